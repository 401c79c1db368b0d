//! `dataforge validate`: parse and build every pipeline without running it.

use crate::cli::PathArgs;
use crate::{EXIT_BAD_CONFIG, EXIT_OK};

/// Exits 0 when every file is valid, 2 otherwise (errors on stderr).
pub fn run(args: &PathArgs) -> u8 {
    let (found, _) = match super::discover(&args.paths) {
        Ok(f) => f,
        Err(code) => return code,
    };
    if !found.errors.is_empty() {
        let files: std::collections::BTreeSet<_> = found
            .errors
            .issues()
            .iter()
            .filter_map(|i| i.file.as_ref())
            .collect();
        eprintln!(
            "{} error(s) in {} file(s); {} pipeline(s) valid",
            found.errors.issues().len(),
            files.len(),
            found.pipelines.len()
        );
        return EXIT_BAD_CONFIG;
    }
    for p in &found.pipelines {
        println!("ok  {}  ({})", p.config.dag_id, p.path.display());
    }
    println!("{} pipeline(s) valid", found.pipelines.len());
    EXIT_OK
}
