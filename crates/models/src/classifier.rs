//! A small CNN classifier for digit images, trained with Adam on cross-entropy; its penultimate
//! layer ([`Classifier::features`]) is the feature extractor of FID-like metrics.
//!
//! `conv3×3(c→w₁) → GN → SiLU → avg-pool ×2 → conv3×3(w₁→w₂) → GN → SiLU → avg-pool ×2 →
//! flatten → Linear → SiLU (features) → Linear (logits)`.

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::{GroupNorm, Linear};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::{log_softmax, silu};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::Rng;
use samplers::rng::{seeded, HostRng};
use samplers::Batch;

use crate::error::ModelError;
use crate::init::{group_norm, seeded_conv2d, seeded_linear};
use crate::tensor::batch_to_tensor;

/// Shape of a [`Classifier`]: image `[c, h, w]` (h, w divisible by 4), conv widths, feature
/// size and classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassifierConfig {
    pub shape: [usize; 3],
    pub num_classes: usize,
    /// Channels of the two conv layers.
    pub widths: [usize; 2],
    /// Size of the penultimate (feature) layer.
    pub features: usize,
    /// GroupNorm groups (divides both widths).
    pub groups: usize,
}

impl ClassifierConfig {
    /// Defaults: widths [16, 32], 128 features, 4 groups.
    pub fn new(shape: [usize; 3], num_classes: usize) -> Self {
        Self {
            shape,
            num_classes,
            widths: [16, 32],
            features: 128,
            groups: 4,
        }
    }

    /// Checks every field; errors name the key and value.
    pub fn validate(&self) -> Result<(), ModelError> {
        let [c, h, w] = self.shape;
        if c == 0 {
            return Err(ModelError::invalid("channels", c, ">= 1"));
        }
        for (key, v) in [("height", h), ("width", w)] {
            if v == 0 || v % 4 != 0 {
                return Err(ModelError::invalid(
                    key,
                    v,
                    "a positive multiple of 4 (two ×2 poolings)",
                ));
            }
        }
        if self.num_classes < 2 {
            return Err(ModelError::invalid("num_classes", self.num_classes, ">= 2"));
        }
        if self.features == 0 {
            return Err(ModelError::invalid("features", 0, ">= 1"));
        }
        for (key, v) in [("widths[0]", self.widths[0]), ("widths[1]", self.widths[1])] {
            if self.groups == 0 || v == 0 || v % self.groups != 0 {
                return Err(ModelError::invalid(
                    key,
                    v,
                    &format!("a positive multiple of groups = {}", self.groups),
                ));
            }
        }
        Ok(())
    }

    /// A freshly initialized classifier, weights drawn from `rng`.
    pub fn init(&self, rng: &mut HostRng, device: &Device) -> Result<Classifier, ModelError> {
        self.validate()?;
        let [c, h, w] = self.shape;
        let [w1, w2] = self.widths;
        Ok(Classifier {
            conv1: seeded_conv2d(c, w1, 3, 1, 1, 1.0, rng, device),
            norm1: group_norm(self.groups, w1, device),
            conv2: seeded_conv2d(w1, w2, 3, 1, 1, 1.0, rng, device),
            norm2: group_norm(self.groups, w2, device),
            hidden: seeded_linear(w2 * (h / 4) * (w / 4), self.features, rng, device),
            head: seeded_linear(self.features, self.num_classes, rng, device),
            shape: self.shape,
        })
    }
}

/// The CNN classifier: `[n, c·h·w]` → logits `[n, num_classes]`.
#[derive(Module, Debug)]
pub struct Classifier {
    pub conv1: Conv2d,
    pub norm1: GroupNorm,
    pub conv2: Conv2d,
    pub norm2: GroupNorm,
    pub hidden: Linear,
    pub head: Linear,
    pub shape: [usize; 3],
}

impl Classifier {
    /// Penultimate-layer features `[n, features]` of images `[n, c·h·w]`.
    pub fn features(&self, x: Tensor<2>) -> Tensor<2> {
        let n = x.dims()[0];
        let [c, h, w] = self.shape;
        let x = x.reshape([n, c, h, w]);
        let x = avg_pool2(silu(self.norm1.forward(self.conv1.forward(x))));
        let x = avg_pool2(silu(self.norm2.forward(self.conv2.forward(x))));
        let [_, c2, h2, w2] = x.dims();
        silu(self.hidden.forward(x.reshape([n, c2 * h2 * w2])))
    }

    /// Class logits `[n, num_classes]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.head.forward(self.features(x))
    }

    /// Data dimension c·h·w.
    pub fn dim(&self) -> usize {
        self.shape.iter().product()
    }
}

/// 2×2 average pooling with stride 2: `[n, c, h, w]` → `[n, c, h/2, w/2]` (h, w even).
fn avg_pool2(x: Tensor<4>) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    x.reshape([n, c, h / 2, 2, w / 2, 2])
        .mean_dim(5)
        .mean_dim(3)
        .reshape([n, c, h / 2, w / 2])
}

/// Mean cross-entropy −(1/n) Σ_i log softmax(logits_i)\[y_i\], written with a one-hot mask.
pub fn cross_entropy(logits: Tensor<2>, labels: &[u8]) -> Tensor<1> {
    let [n, k] = logits.dims();
    let mut one_hot = vec![0f32; n * k];
    for (i, &y) in labels.iter().enumerate() {
        one_hot[i * k + y as usize] = 1.0;
    }
    let mask = Tensor::<2>::from_data(TensorData::new(one_hot, [n, k]), &logits.device());
    (log_softmax(logits, 1) * mask)
        .sum()
        .div_scalar(n as f64)
        .neg()
}

/// Trains a classifier from `seeded(seed)` on images `data` (rows `[c·h·w]` of `cfg.shape`)
/// with labels in `0..cfg.num_classes`: `steps` Adam steps (learning rate `lr`) on minibatches
/// of `batch_size` rows drawn with replacement. Returns the inference copy of the classifier
/// and the loss per step. `device` may be plain or autodiff.
#[allow(clippy::too_many_arguments)]
pub fn train_classifier(
    data: &Batch,
    labels: &[u8],
    cfg: &ClassifierConfig,
    steps: usize,
    batch_size: usize,
    lr: f64,
    seed: u64,
    device: &Device,
) -> Result<(Classifier, Vec<f32>), ModelError> {
    check_data(data, labels, cfg.shape)?;
    if let Some(&bad) = labels.iter().find(|&&y| y as usize >= cfg.num_classes) {
        return Err(ModelError::invalid(
            "label",
            bad,
            &format!("< num_classes = {}", cfg.num_classes),
        ));
    }
    if batch_size == 0 {
        return Err(ModelError::invalid("batch_size", 0, ">= 1"));
    }
    if !(lr > 0.0 && lr.is_finite()) {
        return Err(ModelError::invalid("lr", lr, "> 0"));
    }
    let device = device.clone().autodiff();
    let mut rng = seeded(seed);
    let mut model = cfg.init(&mut rng, &device)?;
    let mut optim = AdamConfig::new().with_epsilon(1e-8).init();
    let mut losses = Vec::with_capacity(steps);
    for _ in 0..steps {
        let idx: Vec<usize> = (0..batch_size)
            .map(|_| rng.random_range(0..data.n()))
            .collect();
        let y: Vec<u8> = idx.iter().map(|&i| labels[i]).collect();
        let x = batch_to_tensor(&data.select_rows(&idx), &device);
        let loss = cross_entropy(model.forward(x), &y);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        losses.push(loss.into_scalar::<f32>());
        model = optim.step(lr, model, grads);
    }
    Ok((model.valid(), losses))
}

/// Fraction of rows of `data` whose arg-max logit equals the label (evaluated in chunks of
/// 1024 rows on the classifier's device).
pub fn accuracy(model: &Classifier, data: &Batch, labels: &[u8]) -> Result<f64, ModelError> {
    check_data(data, labels, model.shape)?;
    let device = model.head.weight.val().device();
    let mut correct = 0usize;
    for start in (0..data.n()).step_by(1024) {
        let end = (start + 1024).min(data.n());
        let logits = model.forward(batch_to_tensor(&data.slice_rows(start, end), &device));
        let predicted: Tensor<2, Int> = logits.argmax(1);
        let predicted: Vec<i64> = predicted
            .try_into_vec_as::<i64>()
            .expect("argmax reads back as i64");
        correct += predicted
            .iter()
            .zip(&labels[start..end])
            .filter(|(&p, &y)| p == i64::from(y))
            .count();
    }
    Ok(correct as f64 / data.n() as f64)
}

fn check_data(data: &Batch, labels: &[u8], shape: [usize; 3]) -> Result<(), ModelError> {
    let d: usize = shape.iter().product();
    if data.dim() != d {
        return Err(ModelError::invalid(
            "data.dim",
            data.dim(),
            &format!("c·h·w = {d} for shape {shape:?}"),
        ));
    }
    if data.n() == 0 {
        return Err(ModelError::invalid("data.n", 0, ">= 1"));
    }
    if labels.len() != data.n() {
        return Err(ModelError::invalid(
            "labels.len",
            labels.len(),
            &format!("data.n = {}", data.n()),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 8×8 images of a vertical (class 0) or horizontal (class 1) bar at a random position,
    /// plus N(0, 0.3²) noise.
    fn bars(n: usize, seed: u64) -> (Batch, Vec<u8>) {
        let mut rng = seeded(seed);
        let mut data = Batch::standard_normal(n, 64, &mut rng).scaled(0.3);
        let mut labels = Vec::with_capacity(n);
        for i in 0..n {
            let class: u8 = rng.random_range(0..2);
            let pos = rng.random_range(1..7);
            for t in 0..8 {
                let (r, c) = if class == 0 { (t, pos) } else { (pos, t) };
                data.row_mut(i)[r * 8 + c] += 1.0;
            }
            labels.push(class);
        }
        (data, labels)
    }

    #[test]
    fn learns_bars_and_features_have_the_configured_size() {
        let device = Device::flex();
        let cfg = ClassifierConfig {
            widths: [8, 16],
            features: 32,
            ..ClassifierConfig::new([1, 8, 8], 2)
        };
        let (train, train_y) = bars(512, 1);
        let (test, test_y) = bars(256, 2);
        let (model, losses) =
            train_classifier(&train, &train_y, &cfg, 150, 32, 3e-3, 7, &device).unwrap();
        assert_eq!(losses.len(), 150);
        // Cross-entropy at init is ≈ ln 2 for two classes.
        assert!(
            (losses[0] - std::f32::consts::LN_2).abs() < 0.3,
            "{}",
            losses[0]
        );
        let acc = accuracy(&model, &test, &test_y).unwrap();
        assert!(
            acc >= 0.95,
            "accuracy {acc}, losses {:?}",
            &losses[losses.len() - 5..]
        );
        let f = model.features(batch_to_tensor(&test.slice_rows(0, 3), &device));
        assert_eq!(f.dims(), [3, 32]);
    }

    #[test]
    fn cross_entropy_matches_hand_value() {
        let device = Device::flex();
        let logits = Tensor::<2>::from_data(
            TensorData::new(vec![0.0f32, 0.0, 2.0, 0.0], [2, 2]),
            &device,
        );
        // Row 0: ln 2; row 1 (label 0, logits [2, 0]): ln(1 + e⁻²).
        let want = (2f32.ln() + (1.0 + (-2f32).exp()).ln()) / 2.0;
        let got = cross_entropy(logits, &[1, 0]).into_scalar::<f32>();
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }

    #[test]
    fn bad_inputs_are_errors_naming_the_key() {
        let device = Device::flex();
        let cfg = ClassifierConfig::new([1, 8, 8], 2);
        let (x, y) = bars(4, 0);
        let err = |r: Result<(Classifier, Vec<f32>), ModelError>| r.unwrap_err().to_string();
        assert!(
            err(train_classifier(&x, &y[..3], &cfg, 1, 2, 1e-3, 0, &device))
                .starts_with("labels.len = 3")
        );
        assert!(err(train_classifier(
            &x,
            &[0, 1, 2, 0],
            &cfg,
            1,
            2,
            1e-3,
            0,
            &device
        ))
        .starts_with("label = 2"));
        let wrong = ClassifierConfig::new([1, 6, 6], 2);
        assert!(
            err(train_classifier(&x, &y, &wrong, 1, 2, 1e-3, 0, &device))
                .starts_with("data.dim = 64")
        );
        assert!(wrong
            .validate()
            .unwrap_err()
            .to_string()
            .starts_with("height = 6"));
        let odd = ClassifierConfig {
            widths: [6, 16],
            ..cfg
        };
        assert!(odd
            .validate()
            .unwrap_err()
            .to_string()
            .starts_with("widths[0] = 6"));
    }
}
