//! Progress bars on stderr, drawn only when stderr is a terminal (logs and CI stay clean).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar of `total` steps labelled `prefix`; `template` is indicatif's, e.g.
/// `"{prefix} [{bar:30}] {pos}/{len} cells, ETA {eta}"`.
pub fn bar(total: u64, prefix: &str, template: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    if std::io::stderr().is_terminal() {
        bar.set_style(
            ProgressStyle::with_template(template)
                .expect("a valid progress template")
                .progress_chars("=> "),
        );
        bar.set_prefix(prefix.to_string());
    } else {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar
}
