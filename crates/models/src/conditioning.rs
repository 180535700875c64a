//! Class conditioning and classifier-free guidance (Ho & Salimans 2022).
//!
//! A conditional network sees a learned label embedding `E[y]` added to its sinusoidal noise
//! embedding (as EDM's `SongUNet`/`DhariwalUNet` add `map_label(y)` to `map_noise(c_noise)`).
//! The table has `num_classes + 1` rows: the last row, index `num_classes`, is the null class ∅
//! used for the unconditional model. Training replaces labels by ∅ with probability p
//! ([`label_dropout`]), so one network learns both D(x; σ, y) and D(x; σ, ∅); sampling mixes
//! them with [`cfg_combine`].

use burn::nn::Embedding;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::Rng;
use samplers::rng::HostRng;
use samplers::Batch;

use crate::error::ModelError;
use crate::init::seeded_embedding;

/// The index of the null (unconditional) class: `num_classes`.
pub fn null_class(num_classes: usize) -> u32 {
    num_classes as u32
}

/// A label-embedding table with `num_classes + 1` rows of size `dim` (the last row is the null
/// class), N(0, 1) entries drawn from `rng`.
pub fn label_embedding(
    num_classes: usize,
    dim: usize,
    rng: &mut HostRng,
    device: &Device,
) -> Embedding {
    seeded_embedding(num_classes + 1, dim, rng, device)
}

/// Rows `E[labels]`: `[n]` → `[n, dim]`. `None` means the null class for every row (`n`
/// rows on `device`).
pub fn embed_labels(
    embed: &Embedding,
    labels: Option<Tensor<1, Int>>,
    n: usize,
    device: &Device,
) -> Tensor<2> {
    let [rows, dim] = embed.weight.dims();
    let labels = labels.unwrap_or_else(|| {
        let null = vec![(rows - 1) as i64; n];
        Tensor::<1, Int>::from_data(TensorData::new(null, [n]), device)
    });
    let n = labels.dims()[0];
    embed.forward(labels.reshape([n, 1])).reshape([n, dim])
}

/// Labels as an `[n]` integer tensor on `device`.
pub fn labels_to_tensor(labels: &[u32], device: &Device) -> Tensor<1, Int> {
    let values: Vec<i64> = labels.iter().map(|&v| i64::from(v)).collect();
    Tensor::from_data(TensorData::new(values, [labels.len()]), device)
}

/// Label dropout for classifier-free guidance training (Ho & Salimans 2022, Alg. 1,
/// `p_uncond`): each label is replaced by the null class `num_classes` with probability `p`,
/// one uniform draw from `rng` per label.
pub fn label_dropout(
    labels: &[u32],
    p: f64,
    num_classes: usize,
    rng: &mut HostRng,
) -> Result<Vec<u32>, ModelError> {
    if !(0.0..=1.0).contains(&p) {
        return Err(ModelError::invalid("label_dropout", p, "in [0, 1]"));
    }
    if let Some(&bad) = labels.iter().find(|&&y| y as usize >= num_classes) {
        return Err(ModelError::invalid(
            "label",
            bad,
            &format!("< num_classes = {num_classes}"),
        ));
    }
    let null = null_class(num_classes);
    Ok(labels
        .iter()
        .map(|&y| if rng.random::<f64>() < p { null } else { y })
        .collect())
}

/// Classifier-free guidance (Ho & Salimans 2022, eq. 6, written for denoisers; the
/// conditional score of Song et al. 2021, §5): D_w = D_∅ + w·(D_y − D_∅). w = 1 is plain
/// conditional sampling, w = 0 unconditional, w > 1 sharpens towards the class. Both batches
/// must have the same shape (they come from one network on one input); panics otherwise.
pub fn cfg_combine(uncond: &Batch, cond: &Batch, w: f64) -> Batch {
    assert_eq!(
        (uncond.n(), uncond.dim()),
        (cond.n(), cond.dim()),
        "cfg_combine: batch shapes differ"
    );
    let values = uncond
        .as_slice()
        .iter()
        .zip(cond.as_slice())
        .map(|(&d_null, &d_y)| d_null + w * (d_y - d_null))
        .collect();
    Batch::from_vec(uncond.n(), uncond.dim(), values).expect("shape checked above")
}

#[cfg(test)]
mod tests {
    use super::*;
    use samplers::rng::seeded;

    #[test]
    fn label_dropout_replaces_at_rate_p_and_keeps_the_rest() {
        let labels: Vec<u32> = (0..10_000).map(|i| i % 10).collect();
        let out = label_dropout(&labels, 0.2, 10, &mut seeded(7)).unwrap();
        let dropped = out.iter().filter(|&&y| y == 10).count();
        // Binomial(10 000, 0.2): sd = 40, allow 4 sd.
        assert!((dropped as f64 - 2000.0).abs() < 160.0, "{dropped}");
        assert!(out.iter().zip(&labels).all(|(&o, &y)| o == y || o == 10));
        assert_eq!(
            label_dropout(&labels, 0.0, 10, &mut seeded(7)).unwrap(),
            labels
        );
        assert!(label_dropout(&labels, 1.0, 10, &mut seeded(7))
            .unwrap()
            .iter()
            .all(|&y| y == 10));
        assert_eq!(
            out,
            label_dropout(&labels, 0.2, 10, &mut seeded(7)).unwrap()
        );
    }

    #[test]
    fn label_dropout_rejects_bad_p_and_labels() {
        let err = label_dropout(&[0, 1], 1.5, 2, &mut seeded(0))
            .unwrap_err()
            .to_string();
        assert!(err.contains("label_dropout = 1.5"), "{err}");
        let err = label_dropout(&[0, 2], 0.1, 2, &mut seeded(0))
            .unwrap_err()
            .to_string();
        assert!(err.contains("label = 2"), "{err}");
    }

    #[test]
    fn cfg_combine_matches_hand_values() {
        let uncond = Batch::from_vec(1, 2, vec![1.0, -2.0]).unwrap();
        let cond = Batch::from_vec(1, 2, vec![3.0, 0.0]).unwrap();
        // w = 2: 1 + 2·(3 − 1) = 5, −2 + 2·(0 + 2) = 2.
        assert_eq!(cfg_combine(&uncond, &cond, 2.0).as_slice(), &[5.0, 2.0]);
        assert_eq!(cfg_combine(&uncond, &cond, 1.0).as_slice(), cond.as_slice());
        assert_eq!(
            cfg_combine(&uncond, &cond, 0.0).as_slice(),
            uncond.as_slice()
        );
    }

    #[test]
    fn null_labels_pick_the_last_row() {
        let device = Device::flex();
        let embed = label_embedding(3, 4, &mut seeded(1), &device);
        let table: Vec<f32> = embed.weight.val().try_into_vec_as::<f32>().unwrap();
        let null: Vec<f32> = embed_labels(&embed, None, 2, &device)
            .try_into_vec_as::<f32>()
            .unwrap();
        assert_eq!(&null[..4], &table[12..16]);
        assert_eq!(&null[4..], &table[12..16]);
        let one: Vec<f32> = embed_labels(&embed, Some(labels_to_tensor(&[1], &device)), 1, &device)
            .try_into_vec_as::<f32>()
            .unwrap();
        assert_eq!(&one[..], &table[4..8]);
    }
}
