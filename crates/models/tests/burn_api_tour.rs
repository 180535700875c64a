//! Executable cheat sheet for the burn 0.22 API used by this crate (see the lead's
//! `burn022.md`): each test is one verified snippet.

use burn::grad_clipping::GradientClippingConfig;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{
    Embedding, EmbeddingConfig, GroupNorm, GroupNormConfig, Linear, LinearConfig, PaddingConfig2d,
};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, AdamWConfig, GradientsParams};
use burn::tensor::activation::silu;
use burn::tensor::{s, Device, Int, Tensor, TensorData};

#[test]
fn tensors_from_host_data_ops_and_read_back() {
    let device = Device::flex();
    let a = Tensor::<2>::from_data(
        TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2]),
        &device,
    );
    let b = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 2.0]], &device);
    let m = a.clone().matmul(b.clone()); // [[1,4],[3,8]]
    assert_eq!(
        m.clone().try_into_vec_as::<f32>().unwrap(),
        vec![1.0, 4.0, 3.0, 8.0]
    );
    let e = (a.clone() + b.clone()) * a.clone(); // elementwise
    assert_eq!(e.try_to_vec_as::<f32>().unwrap(), vec![2.0, 4.0, 9.0, 24.0]);
    let _ = silu(a.clone().exp().mul_scalar(0.5).add_scalar(1.0));
    let r: Tensor<1> = a.clone().reshape([4]);
    let col = a.clone().slice([0..2, 1..2]); // [[2],[4]]
    assert_eq!(col.dims(), [2, 1]);
    let last_row = a.clone().slice(s![-1.., ..]);
    assert_eq!(last_row.try_into_vec_as::<f32>().unwrap(), vec![3.0, 4.0]);
    let c = Tensor::cat(vec![a.clone(), b], 1);
    assert_eq!(c.dims(), [2, 4]);
    assert_eq!(r.sum().into_scalar::<f32>(), 10.0);
    assert_eq!(a.clone().mean().into_scalar::<f32>(), 2.5);
    assert_eq!(
        a.sum_dim(1).try_into_vec_as::<f32>().unwrap(),
        vec![3.0, 7.0]
    ); // keeps dim: [2,1]
}

#[derive(Module, Debug)]
struct ConvNet {
    conv: Conv2d,
    norm: GroupNorm,
    emb: Embedding,
    head: Linear,
}

#[test]
fn conv_groupnorm_embedding_and_adamw_with_clipping() {
    let device = Device::flex().autodiff();
    let net = ConvNet {
        conv: Conv2dConfig::new([3, 8], [3, 3])
            .with_padding(PaddingConfig2d::Same)
            .init(&device),
        norm: GroupNormConfig::new(4, 8).init(&device),
        emb: EmbeddingConfig::new(10, 8).init(&device),
        head: LinearConfig::new(8, 1).init(&device),
    };
    // 3·8·9 + 8 (conv) + 8 + 8 (γ, β) + 10·8 (emb) + 8 + 1 (head)
    assert_eq!(net.num_params(), 216 + 8 + 16 + 80 + 9);

    let img = Tensor::<4>::ones([2, 3, 5, 5], &device);
    let h = silu(net.norm.forward(net.conv.forward(img))); // [2, 8, 5, 5]
    let pooled: Tensor<2> = h.mean_dim(3).mean_dim(2).reshape([2, 8]);
    let labels = Tensor::<2, Int>::from_data(TensorData::new(vec![1i64, 7], [2, 1]), &device);
    let e: Tensor<2> = net.emb.forward(labels).reshape([2, 8]); // [2,1,8] -> [2,8]
    let loss = net.head.forward(pooled + e).square().mean();

    let grads = GradientsParams::from_grads(loss.backward(), &net);
    let mut optim = AdamWConfig::new()
        .with_weight_decay(1e-2)
        .with_grad_clipping(Some(GradientClippingConfig::Norm(1.0)))
        .init();
    let before = net.head.weight.val().try_into_vec_as::<f32>().unwrap();
    let net = optim.step(1e-3, net, grads);
    let after = net.head.weight.val().try_into_vec_as::<f32>().unwrap();
    assert_ne!(before, after);

    // Adam with L2-style weight decay (added to the gradient), value clipping.
    let _adam = AdamConfig::new()
        .with_beta_2(0.99)
        .with_epsilon(1e-8)
        .with_weight_decay(Some(WeightDecayConfig::new(1e-4)))
        .with_grad_clipping(Some(GradientClippingConfig::Value(1.0)))
        .init();
}

#[test]
fn record_round_trip_in_memory_and_optimizer_state() {
    let device = Device::flex().autodiff();
    let lin = LinearConfig::new(3, 2).init(&device);
    let bytes = lin.clone().into_record().into_bytes().unwrap();
    let record = burn::store::ModuleRecord::from_bytes(bytes).unwrap();
    let fresh = LinearConfig::new(3, 2).init(&device).load_record(record);
    assert_eq!(
        fresh.weight.val().try_into_vec_as::<f32>().unwrap(),
        lin.weight.val().try_into_vec_as::<f32>().unwrap()
    );
    // Inference copy without autodiff:
    let plain = fresh.valid();
    assert!(!plain.weight.val().is_autodiff());
    // Optimizer state (Adam moments) also serializes to burnpack.
    let mut optim = AdamConfig::new().init();
    let x = Tensor::<2>::ones([1, 3], &device);
    let grads = GradientsParams::from_grads(lin.forward(x).sum().backward(), &lin);
    let _lin = optim.step(1e-3, lin, grads);
    let state = optim.into_bytes().unwrap();
    let _restored = AdamConfig::new().init().from_bytes(state).unwrap();
}

/// Custom backend op (needs burn's `extension` feature; here it is on transitively via
/// burn-nn → burn-linalg). Default body = composition of differentiable primitives, so the
/// Autodiff impl gets gradients for free; a hand-written backward is not generated.
mod extension {
    use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
    use burn::backend::tensor::FloatTensor;
    use burn::backend::{backend_extension, Autodiff, Backend, Dispatch, Flex};
    use burn::tensor::{Device, Tensor};

    #[backend_extension(Flex, Autodiff)]
    pub trait SquarePlusX: Backend {
        fn square_plus_x(x: FloatTensor<Self>) -> FloatTensor<Self> {
            let sq = Self::float_mul(x.clone(), x.clone());
            Self::float_add(sq, x)
        }
    }
    impl SquarePlusX for Flex {}
    impl<B: Backend + SquarePlusX, C: CheckpointStrategy> SquarePlusX for Autodiff<B, C> {}

    fn square_plus_x<const D: usize>(x: Tensor<D>) -> Tensor<D> {
        Tensor::from_dispatch(<Dispatch as SquarePlusX>::square_plus_x(x.into_dispatch()))
    }

    #[test]
    fn custom_op_runs_and_differentiates() {
        let device = Device::flex().autodiff();
        let x = Tensor::<1>::from_floats([1.0, 2.0], &device).require_grad();
        let y = square_plus_x(x.clone());
        assert_eq!(y.clone().try_into_vec_as::<f32>().unwrap(), vec![2.0, 6.0]);
        let grads = y.sum().backward();
        let g = x.grad(&grads).unwrap(); // d/dx (x² + x) = 2x + 1
        assert_eq!(g.try_into_vec_as::<f32>().unwrap(), vec![3.0, 5.0]);
    }
}
