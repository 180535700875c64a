//! `Device::seed` in its own test binary (own process): Flex keeps one process-global RNG, so
//! any other test initializing burn layers in a parallel thread would interleave draws.

use burn::tensor::{Device, Distribution, Tensor};

#[test]
fn device_seed_makes_burn_random_reproducible_single_threaded() {
    let device = Device::flex();
    device.seed(42);
    let x: Vec<f32> = Tensor::<1>::random([4], Distribution::Normal(0.0, 1.0), &device)
        .try_into_vec_as()
        .unwrap();
    device.seed(42);
    let y: Vec<f32> = Tensor::<1>::random([4], Distribution::Normal(0.0, 1.0), &device)
        .try_into_vec_as()
        .unwrap();
    // Flex's RNG is one process-global Mutex: other threads (parallel tests) drawing between
    // seed() and random() would break this; the crate therefore initializes from HostRng.
    assert_eq!(x, y);
}
