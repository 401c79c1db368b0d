//! [`Pipeline`]: a source, transforms and a destination, built from config or in code.

use std::sync::Arc;

use crate::component::{Destination, Source, Transform};
use crate::config::{DefaultArgs, OnError, PipelineConfig, RejectBudget};
use crate::error::{ConfigErrors, ConfigIssue};
use crate::projection::Projection;
use crate::registry::Registry;
use crate::template::TemplateContext;

/// A component with the name used in logs, errors and the run report.
pub struct Named<T: ?Sized> {
    /// `file`, `postgres`, or `transforms[1] cast`.
    pub name: String,
    /// The component.
    pub component: Arc<T>,
}

impl<T: ?Sized> Clone for Named<T> {
    fn clone(&self) -> Self {
        Self {
            name: self.name.clone(),
            component: self.component.clone(),
        }
    }
}

/// One transform in the chain, with its row-error policy.
#[derive(Clone)]
pub struct TransformStep {
    /// `transforms[1] cast`.
    pub name: String,
    /// The transform.
    pub transform: Arc<dyn Transform>,
    /// What happens to rejected rows.
    pub on_error: OnError,
}

/// How a pipeline runs: batch size, channel depth, retries, timeout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunSettings {
    /// Rows per batch.
    pub batch_size: usize,
    /// Batches buffered between two stages (memory is about `batch_size × capacity` per stage).
    pub channel_capacity: usize,
    /// Retries, delays and the attempt timeout.
    pub default_args: DefaultArgs,
    /// The bad-row budget (`max_rejected`); `None`: no limit.
    pub max_rejected: Option<RejectBudget>,
}

impl Default for RunSettings {
    fn default() -> Self {
        Self {
            batch_size: crate::DEFAULT_BATCH_SIZE,
            channel_capacity: 2,
            default_args: DefaultArgs::default(),
            max_rejected: None,
        }
    }
}

/// A runnable pipeline. Run it with [`Pipeline::run`](crate::runner).
#[derive(Clone)]
pub struct Pipeline {
    pub(crate) id: String,
    pub(crate) source: Named<dyn Source>,
    pub(crate) transforms: Vec<TransformStep>,
    pub(crate) destination: Named<dyn Destination>,
    /// The destination's row check, run as the chain's last step with its `on_error`.
    pub(crate) destination_check: Option<TransformStep>,
    pub(crate) dead_letter: Option<Named<dyn Destination>>,
    pub(crate) settings: RunSettings,
    pub(crate) params: serde_json::Map<String, serde_json::Value>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("id", &self.id)
            .field("source", &self.source.name)
            .field(
                "transforms",
                &self.transforms.iter().map(|t| &t.name).collect::<Vec<_>>(),
            )
            .field("destination", &self.destination.name)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    /// Starts building a pipeline in code.
    pub fn builder(id: impl Into<String>) -> PipelineBuilder {
        PipelineBuilder {
            id: id.into(),
            source: None,
            transforms: Vec::new(),
            destination: None,
            destination_on_error: OnError::Fail,
            dead_letter: None,
            settings: RunSettings::default(),
            params: serde_json::Map::new(),
        }
    }

    /// Builds a pipeline from a parsed config, resolving components in `registry`.
    ///
    /// # Errors
    /// Every problem in every component, with JSON paths (`transforms[1].mapping`).
    pub fn from_config(config: &PipelineConfig, registry: &Registry) -> Result<Self, ConfigErrors> {
        let mut errors = Vec::new();
        let source = registry
            .build_source(&config.source)
            .map_err(|e| errors.extend(e.under("source").0))
            .ok();
        let mut transforms = Vec::new();
        for (i, entry) in config.transforms.iter().enumerate() {
            let path = format!("transforms[{i}]");
            match registry.build_transform(&entry.config) {
                Ok(t) => transforms.push(TransformStep {
                    name: format!("{path} {}", t.name),
                    transform: t.component,
                    on_error: entry.on_error,
                }),
                Err(e) => errors.extend(e.under(&path).0),
            }
        }
        let destination = registry
            .build_destination(&config.destination)
            .map_err(|e| errors.extend(e.under("destination").0))
            .ok();
        let dead_letter = config.dead_letter.as_ref().and_then(|dl| {
            registry
                .build_destination(dl)
                .map_err(|e| errors.extend(e.under("dead_letter").0))
                .ok()
        });
        let (Some(source), Some(destination), true) = (source, destination, errors.is_empty())
        else {
            return Err(ConfigErrors(errors));
        };
        Ok(Self {
            id: config.dag_id.clone(),
            source,
            transforms,
            destination_check: row_check(&destination, config.destination_on_error),
            destination,
            dead_letter,
            settings: RunSettings {
                batch_size: config.batch_size.unwrap_or(crate::DEFAULT_BATCH_SIZE),
                default_args: config.default_args.clone(),
                max_rejected: config.max_rejected,
                ..RunSettings::default()
            },
            params: config.params.clone(),
        })
    }

    /// Builds the pipeline of one run: `config` with its templates rendered for `ctx`
    /// ([`PipelineConfig::render`]), then [`Pipeline::from_config`]. Run it with the same run
    /// id and logical date (`RunOptions::run_id`, `RunOptions::logical_date`).
    ///
    /// # Errors
    /// Every template that does not render; then every problem in every component.
    pub fn from_config_for_run(
        config: &PipelineConfig,
        ctx: &TemplateContext,
        registry: &Registry,
    ) -> Result<Self, ConfigErrors> {
        Self::from_config(&config.render(ctx)?, registry)
    }

    /// The pipeline's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The run settings.
    pub fn settings(&self) -> &RunSettings {
        &self.settings
    }

    /// Changes the run settings.
    pub fn settings_mut(&mut self) -> &mut RunSettings {
        &mut self.settings
    }

    /// The source's name.
    pub fn source_name(&self) -> &str {
        &self.source.name
    }

    /// The destination's name.
    pub fn destination_name(&self) -> &str {
        &self.destination.name
    }

    /// The transform steps.
    pub fn transforms(&self) -> &[TransformStep] {
        &self.transforms
    }

    /// What the pipeline reads of its source's rows (see [`Projection`]), asked of the steps
    /// from the last to the first: the destination reads every field, and so does a step whose
    /// rejected rows go to the dead-letter destination (it keeps them whole).
    pub fn source_projection(&self) -> Projection {
        let mut projection = Projection::All;
        for step in self.transforms.iter().chain(&self.destination_check).rev() {
            projection = match step.on_error {
                OnError::DeadLetter => Projection::All,
                _ => step.transform.input_projection(&projection),
            };
        }
        projection
    }
}

fn short_type_name<T: ?Sized>() -> String {
    let full = std::any::type_name::<T>();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base).to_owned()
}

/// Builds a [`Pipeline`] in code from trait objects or registered types.
///
/// ```
/// use dataforge_core::{Pipeline, record};
/// # use dataforge_core::{
/// #     BatchReceiver, BatchSender, ComponentError, Destination, LoadSummary, Record, RunContext,
/// #     Source, async_trait,
/// # };
/// # /// Sends its rows in one batch.
/// # struct Rows(Vec<Record>);
/// # #[async_trait]
/// # impl Source for Rows {
/// #     async fn extract(&self, _: &RunContext, out: &mut BatchSender) -> Result<(), ComponentError> {
/// #         out.send(self.0.clone()).await?;
/// #         Ok(())
/// #     }
/// # }
/// # /// Reads every batch and keeps nothing.
/// # struct Discard;
/// # #[async_trait]
/// # impl Destination for Discard {
/// #     async fn load(
/// #         &self,
/// #         input: &mut BatchReceiver,
/// #         _: &RunContext,
/// #     ) -> Result<LoadSummary, ComponentError> {
/// #         while input.recv().await?.is_some() {}
/// #         Ok(LoadSummary::default())
/// #     }
/// # }
///
/// let pipeline = Pipeline::builder("orders")
///     .source(Rows(vec![record! {"id" => 1}])) // any `impl Source`
///     .destination(Discard) // any `impl Destination`
///     .batch_size(500)
///     .build()?;
/// assert_eq!(pipeline.id(), "orders");
/// # Ok::<(), dataforge_core::ConfigErrors>(())
/// ```
pub struct PipelineBuilder {
    id: String,
    source: Option<Named<dyn Source>>,
    transforms: Vec<TransformStep>,
    destination: Option<Named<dyn Destination>>,
    destination_on_error: OnError,
    dead_letter: Option<Named<dyn Destination>>,
    settings: RunSettings,
    params: serde_json::Map<String, serde_json::Value>,
}

/// The chain step that runs `destination`'s row check, if it has one, with its `on_error`.
fn row_check(destination: &Named<dyn Destination>, on_error: OnError) -> Option<TransformStep> {
    destination
        .component
        .row_check()
        .map(|transform| TransformStep {
            name: format!("destination {} (rows it cannot hold)", destination.name),
            transform,
            on_error,
        })
}

/// Something that can stand as a component: a concrete type, or an `Arc<dyn …>` from a registry.
pub trait IntoComponent<T: ?Sized> {
    /// The component and its display name.
    fn into_named(self) -> Named<T>;
}

macro_rules! into_component {
    ($trait:ident) => {
        impl<S: $trait> IntoComponent<dyn $trait> for S {
            fn into_named(self) -> Named<dyn $trait> {
                Named {
                    name: short_type_name::<S>(),
                    component: Arc::new(self),
                }
            }
        }
        impl IntoComponent<dyn $trait> for Arc<dyn $trait> {
            fn into_named(self) -> Named<dyn $trait> {
                Named {
                    name: stringify!($trait).to_lowercase(),
                    component: self,
                }
            }
        }
        impl IntoComponent<dyn $trait> for Named<dyn $trait> {
            fn into_named(self) -> Named<dyn $trait> {
                self
            }
        }
    };
}
into_component!(Source);
into_component!(Transform);
into_component!(Destination);

impl PipelineBuilder {
    /// Sets the source.
    pub fn source(mut self, source: impl IntoComponent<dyn Source>) -> Self {
        self.source = Some(source.into_named());
        self
    }

    /// Adds a transform that fails the run on a rejected row.
    pub fn transform(self, transform: impl IntoComponent<dyn Transform>) -> Self {
        self.transform_with(transform, OnError::Fail)
    }

    /// Adds a transform with a row-error policy.
    pub fn transform_with(
        mut self,
        transform: impl IntoComponent<dyn Transform>,
        on_error: OnError,
    ) -> Self {
        let named = transform.into_named();
        self.transforms.push(TransformStep {
            name: format!("transforms[{}] {}", self.transforms.len(), named.name),
            transform: named.component,
            on_error,
        });
        self
    }

    /// Sets the destination.
    pub fn destination(mut self, destination: impl IntoComponent<dyn Destination>) -> Self {
        self.destination = Some(destination.into_named());
        self
    }

    /// Sets the destination, with the policy for rows its row check rejects
    /// ([`Destination::row_check`]; [`PipelineBuilder::destination`] fails the run on them).
    pub fn destination_with(
        mut self,
        destination: impl IntoComponent<dyn Destination>,
        on_error: OnError,
    ) -> Self {
        self.destination = Some(destination.into_named());
        self.destination_on_error = on_error;
        self
    }

    /// Sets the destination for rejected rows.
    pub fn dead_letter(mut self, destination: impl IntoComponent<dyn Destination>) -> Self {
        self.dead_letter = Some(destination.into_named());
        self
    }

    /// Sets the rows per batch.
    pub fn batch_size(mut self, n: usize) -> Self {
        self.settings.batch_size = n.max(1);
        self
    }

    /// Sets retries, delays and the timeout.
    pub fn default_args(mut self, args: DefaultArgs) -> Self {
        self.settings.default_args = args;
        self
    }

    /// Sets the bad-row budget: a run with more rejected rows fails and commits nothing.
    pub fn max_rejected(mut self, budget: RejectBudget) -> Self {
        self.settings.max_rejected = Some(budget);
        self
    }

    /// Sets all run settings.
    pub fn settings(mut self, settings: RunSettings) -> Self {
        self.settings = settings;
        self
    }

    /// Sets template parameters.
    pub fn params(mut self, params: serde_json::Map<String, serde_json::Value>) -> Self {
        self.params = params;
        self
    }

    /// Builds the pipeline.
    ///
    /// # Errors
    /// When the source or destination is missing, or a transform sends rows to a dead-letter
    /// destination that is not set.
    pub fn build(self) -> Result<Pipeline, ConfigErrors> {
        let mut errors = Vec::new();
        if self.source.is_none() {
            errors.push(ConfigIssue::at("source", "a pipeline needs a source"));
        }
        if self.destination.is_none() {
            errors.push(ConfigIssue::at(
                "destination",
                "a pipeline needs a destination",
            ));
        }
        if self.dead_letter.is_none() && self.destination_on_error == OnError::DeadLetter {
            errors.push(ConfigIssue::at(
                "destination.on_error",
                "is dead_letter but the pipeline has no dead-letter destination",
            ));
        }
        if self.dead_letter.is_none() {
            for (i, t) in self.transforms.iter().enumerate() {
                if t.on_error == OnError::DeadLetter {
                    errors.push(ConfigIssue::at(
                        format!("transforms[{i}].on_error"),
                        "is dead_letter but the pipeline has no dead-letter destination",
                    ));
                }
            }
        }
        let (Some(source), Some(destination), true) =
            (self.source, self.destination, errors.is_empty())
        else {
            return Err(ConfigErrors(errors));
        };
        Ok(Pipeline {
            id: self.id,
            source,
            transforms: self.transforms,
            destination_check: row_check(&destination, self.destination_on_error),
            destination,
            dead_letter: self.dead_letter,
            settings: self.settings,
            params: self.params,
        })
    }
}
