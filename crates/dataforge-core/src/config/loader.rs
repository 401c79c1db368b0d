//! Loading pipeline files and directories: every invalid file is reported while valid ones load.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::PipelineConfig;
use crate::error::{ConfigErrors, ConfigIssue};
use crate::pipeline::Pipeline;
use crate::registry::Registry;
use crate::template::TemplateContext;

/// A pipeline loaded from a file and built against the registry.
#[derive(Debug)]
pub struct LoadedPipeline {
    /// The file it came from.
    pub path: PathBuf,
    /// Its parsed config, templates not rendered.
    pub config: PipelineConfig,
    /// The pipeline built with its templates rendered for the sample run
    /// ([`PipelineConfig::sample_template_context`]): the runnable pipeline when the config has
    /// no templates. Run a templated one with [`LoadedPipeline::pipeline_for`].
    pub pipeline: Pipeline,
}

impl LoadedPipeline {
    /// The pipeline of the run `ctx` describes: the loaded one when the config has no
    /// templates, else built again from the config rendered for `ctx`.
    ///
    /// # Errors
    /// A template that does not render for this run, or a component that rejects a rendered
    /// value; each names the file and the JSON path.
    pub fn pipeline_for(
        &self,
        ctx: &TemplateContext,
        registry: &Registry,
    ) -> Result<Pipeline, ConfigErrors> {
        if !self.config.has_templates() {
            return Ok(self.pipeline.clone());
        }
        Pipeline::from_config_for_run(&self.config, ctx, registry)
            .map_err(|e| e.in_file(&self.path))
    }
}

/// What loading a set of paths found: the valid pipelines, every error, and warnings.
#[derive(Debug, Default)]
pub struct Discovery {
    /// Valid pipelines, sorted by file.
    pub pipelines: Vec<LoadedPipeline>,
    /// Every problem in every invalid file.
    pub errors: ConfigErrors,
    /// Non-fatal findings (ignored Airflow keys).
    pub warnings: Vec<ConfigIssue>,
}

/// Loads files and directories (every `*.json` below a directory, sorted). Each file is
/// parsed, its templates rendered for the sample run (so a template error is a config error)
/// and its components built (no I/O); a bad file is reported and the others still
/// load; two files with one `dag_id` are both rejected.
pub fn load_paths(paths: &[PathBuf], registry: &Registry) -> Discovery {
    let mut out = Discovery::default();
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = walkdir::WalkDir::new(path)
                .follow_links(true)
                .into_iter()
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_file())
                .map(walkdir::DirEntry::into_path)
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect();
            found.sort();
            if found.is_empty() {
                out.errors
                    .0
                    .push(ConfigIssue::at("", "no *.json pipeline files found").in_file(path));
            }
            files.extend(found);
        } else if path.exists() {
            files.push(path.clone());
        } else {
            out.errors
                .0
                .push(ConfigIssue::at("", "no such file or directory").in_file(path));
        }
    }

    let mut loaded = Vec::new();
    for file in files {
        match load_file(&file, registry) {
            Ok((lp, warnings)) => {
                out.warnings.extend(warnings);
                loaded.push(lp);
            }
            Err(e) => out.errors.0.extend(e.0),
        }
    }

    let mut by_id: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for lp in &loaded {
        by_id
            .entry(lp.config.dag_id.clone())
            .or_default()
            .push(lp.path.clone());
    }
    for (id, files) in by_id.iter().filter(|(_, f)| f.len() > 1) {
        for file in files {
            let others: Vec<String> = files
                .iter()
                .filter(|f| *f != file)
                .map(|f| f.display().to_string())
                .collect();
            out.errors.0.push(
                ConfigIssue::at(
                    "dag_id",
                    format!(
                        "duplicate dag_id \"{id}\", also defined in {}",
                        others.join(", ")
                    ),
                )
                .in_file(file),
            );
        }
    }
    out.pipelines = loaded
        .into_iter()
        .filter(|lp| by_id[&lp.config.dag_id].len() == 1)
        .collect();
    out
}

fn load_file(
    path: &Path,
    registry: &Registry,
) -> Result<(LoadedPipeline, Vec<ConfigIssue>), ConfigErrors> {
    let parsed = PipelineConfig::from_file(path)?;
    let sample = parsed.config.sample_template_context();
    let pipeline = Pipeline::from_config_for_run(&parsed.config, &sample, registry)
        .map_err(|e| e.in_file(path))?;
    let warnings = parsed
        .warnings
        .into_iter()
        .map(|w| w.in_file(path))
        .collect();
    Ok((
        LoadedPipeline {
            path: path.to_owned(),
            config: parsed.config,
            pipeline,
        },
        warnings,
    ))
}
