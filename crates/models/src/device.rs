//! Choosing the compute device at run time: the pure-Rust CPU backend Flex by default,
//! CUDA when the workspace is built with `--features cuda`.

use burn::tensor::Device;

use crate::error::ModelError;

/// The device named `name`: `cpu` (burn's Flex backend) or `cuda` / `cuda:N`.
pub fn select(name: &str) -> Result<Device, ModelError> {
    match name {
        "cpu" | "flex" => Ok(Device::flex()),
        cuda if cuda == "cuda" || cuda.starts_with("cuda:") => cuda_device(cuda),
        other => Err(ModelError::invalid(
            "device",
            other,
            "\"cpu\" or \"cuda\" (or \"cuda:N\")",
        )),
    }
}

#[cfg(feature = "cuda")]
fn cuda_device(name: &str) -> Result<Device, ModelError> {
    let index = match name.split_once(':') {
        Some((_, n)) => n
            .parse::<usize>()
            .map_err(|_| ModelError::invalid("device", name, "cuda:N with an integer N"))?,
        None => 0,
    };
    Ok(Device::cuda(index))
}

#[cfg(not(feature = "cuda"))]
fn cuda_device(name: &str) -> Result<Device, ModelError> {
    Err(ModelError::invalid(
        "device",
        name,
        "available only in a build with `--features cuda` (cargo build --features cuda)",
    ))
}

/// A short description of the backend for run manifests.
pub fn describe(name: &str) -> String {
    match name {
        "cpu" | "flex" => "burn 0.22 Flex (pure-Rust CPU), f32".to_string(),
        other => format!("burn 0.22 CUDA ({other}), f32"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_always_available_and_bad_names_are_refused() {
        assert!(select("cpu").is_ok());
        let err = select("tpu").unwrap_err().to_string();
        assert!(err.contains("device = tpu"), "{err}");
        #[cfg(not(feature = "cuda"))]
        assert!(select("cuda")
            .unwrap_err()
            .to_string()
            .contains("--features cuda"));
    }
}
