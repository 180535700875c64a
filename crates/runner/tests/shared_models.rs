//! Cells that share a model (here one network, four sampler settings) run in parallel
//! from an empty cache: the network is trained once, before them, and every cell uses it.
//! (Trained by each cell at once, the copies raced on the cache files and a cell failed.)

mod common;

use common::numeric_column;

const SHARED_NETWORK: &str = r#"
[experiment]
name = "shared_network"
seed = 9

[data]
kind = "digits"

[model]
kind = "network"
net = { arch = "mlp", width = 16, depth = 1, emb_dim = 8 }
train = { steps = 40, batch_size = 32, lr = 1e-3, log_every = 5 }

[schedule]
kind = "edm"

[sampler]
kind = "euler"

[metrics]
samples = 8
names = ["fd_pixels", "final_loss"]

[run]
max_parallel = 4

[sweep]
schedule.steps = [2, 3, 4, 5]
"#;

#[test]
fn cells_sharing_a_network_train_it_once_and_all_finish() {
    let outcome = common::run_in_temp("shared", "network", SHARED_NETWORK).unwrap();
    assert_eq!(outcome.cells_run, 4);
    let losses = numeric_column(&outcome.table, "final_loss");
    assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
    assert!(
        losses.windows(2).all(|w| w[0] == w[1]),
        "one network: {losses:?}"
    );
    let cache = outcome.dir.ancestors().nth(3).unwrap().join("cache");
    let networks: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .filter_map(|entry| {
            let name = entry.unwrap().file_name().to_string_lossy().to_string();
            name.starts_with("net-").then_some(name)
        })
        .collect();
    assert_eq!(networks.len(), 1, "{networks:?}");
    let curve = cache.join(&networks[0]).join("loss_curve.parquet");
    assert!(curve.exists(), "{}", curve.display());
}
