//! Host ↔ device conversions between the workspace's f64 [`Batch`] and burn f32 tensors.

use burn::tensor::{Device, Tensor, TensorData};
use samplers::Batch;

/// An n×d [`Batch`] as an `[n, d]` f32 tensor on `device`.
pub fn batch_to_tensor(batch: &Batch, device: &Device) -> Tensor<2> {
    let values: Vec<f32> = batch.as_slice().iter().map(|&v| v as f32).collect();
    Tensor::from_data(TensorData::new(values, [batch.n(), batch.dim()]), device)
}

/// A host vector as a rank-1 f32 tensor on `device`.
pub fn vec_to_tensor(values: &[f64], device: &Device) -> Tensor<1> {
    let values: Vec<f32> = values.iter().map(|&v| v as f32).collect();
    let n = values.len();
    Tensor::from_data(TensorData::new(values, [n]), device)
}

/// An `[n, d]` tensor read back into an n×d [`Batch`] (synchronous device read).
pub fn tensor_to_batch(tensor: Tensor<2>) -> Batch {
    let [n, d] = tensor.dims();
    let values = tensor
        .try_into_vec_as::<f32>()
        .expect("a float tensor reads back as f32");
    Batch::from_vec(n, d, values.into_iter().map(f64::from).collect())
        .expect("dims() matches the element count")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_round_trips_through_a_flex_tensor() {
        let device = Device::flex();
        let batch = Batch::from_vec(2, 3, vec![1.0, -2.0, 0.5, 4.0, 0.25, -8.0]).unwrap();
        let back = tensor_to_batch(batch_to_tensor(&batch, &device));
        assert_eq!(back.as_slice(), batch.as_slice());
    }
}
