//! `dataforge test`: runs the `tests` of pipeline files (the transform chain alone, on each
//! test's input rows) and prints a diff for each failure.

use dataforge_core::pipeline_tests::{TestOutcome, run_test};

use crate::cli::TestArgs;
use crate::{EXIT_BAD_CONFIG, EXIT_OK, EXIT_RUN_FAILED};

/// Exits 0 when every test passes, 1 when one fails, 2 for invalid files or an unknown
/// `--pipeline`.
pub fn run(args: &TestArgs) -> u8 {
    let (found, registry) = match super::discover(&args.paths) {
        Ok(f) => f,
        Err(code) => return code,
    };
    if !found.errors.is_empty() {
        eprintln!("not testing: fix the errors above");
        return EXIT_BAD_CONFIG;
    }
    for id in &args.pipelines {
        if !found.pipelines.iter().any(|p| &p.config.dag_id == id) {
            eprintln!("no valid pipeline with dag_id \"{id}\" in the given paths");
            return EXIT_BAD_CONFIG;
        }
    }
    let (mut passed, mut failed) = (0usize, 0usize);
    for lp in found
        .pipelines
        .iter()
        .filter(|p| args.pipelines.is_empty() || args.pipelines.contains(&p.config.dag_id))
    {
        if lp.config.tests.is_empty() {
            continue;
        }
        println!("{} ({})", lp.config.dag_id, lp.path.display());
        for test in &lp.config.tests {
            let outcome = run_test(&lp.config, &lp.path, test, registry);
            print_outcome(&outcome);
            if outcome.passed() {
                passed += 1;
            } else {
                failed += 1;
            }
        }
    }
    if passed + failed == 0 {
        println!("no tests in the given pipelines (add a `tests` array to a pipeline file)");
        return EXIT_OK;
    }
    println!(
        "{} test(s): {passed} passed, {failed} failed",
        passed + failed
    );
    if failed == 0 {
        EXIT_OK
    } else {
        EXIT_RUN_FAILED
    }
}

fn print_outcome(outcome: &TestOutcome) {
    let rejected = match outcome.rejected.len() {
        0 => String::new(),
        n => format!(", {n} rejected"),
    };
    let status = if outcome.passed() { "PASS" } else { "FAIL" };
    println!(
        "  {status}  {} ({} row(s) out{rejected})",
        outcome.name, outcome.rows_out
    );
    match &outcome.result {
        Ok(mismatches) if mismatches.is_empty() => {}
        Ok(mismatches) => {
            for m in mismatches {
                for line in m.to_string().lines() {
                    println!("        {line}");
                }
            }
            if !outcome.rejected.is_empty() {
                println!("        rejected rows:");
                for r in &outcome.rejected {
                    println!("          {r}");
                }
            }
        }
        Err(why) => println!("        could not run: {why}"),
    }
}
