//! [`Net`]: every denoiser network of this crate behind one type, so parameterizations,
//! objectives and training work with any architecture.

use burn::module::Module;
use burn::tensor::{Int, Tensor};

use crate::mlp::Mlp;

/// A denoiser network F(x_in, c_noise[, labels]) on flattened batches: `[n, d]` in and out,
/// `c_noise` `[n]`, optional class labels `[n]` (the null class = `num_classes` for
/// unconditional evaluation under classifier-free guidance).
#[derive(Module, Debug)]
pub enum Net {
    Mlp(Mlp),
}

impl Net {
    pub fn forward(&self, x: Tensor<2>, c_noise: Tensor<1>, labels: Option<Tensor<1, Int>>) -> Tensor<2> {
        match self {
            Net::Mlp(m) => {
                let _ = labels;
                m.forward(x, c_noise)
            }
        }
    }
}
