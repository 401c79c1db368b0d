//! The component registry: `type` names to factories, filled at link time or from code.
//!
//! # Registering a component
//! Implement [`SourceFactory`], [`TransformFactory`] or [`DestinationFactory`] and submit it:
//! ```
//! use dataforge_core::schemars::{self, JsonSchema};
//! use dataforge_core::{Batch, ComponentError, ComponentKind, ConfigErrors, Registry, RowContext, Transform, TransformFactory};
//!
//! #[derive(serde::Deserialize, JsonSchema)]
//! #[serde(deny_unknown_fields)]
//! struct NoopConfig {}
//!
//! struct Noop;
//! impl Transform for Noop {
//!     fn transform(&self, batch: Batch, _: &mut RowContext<'_>) -> Result<Batch, ComponentError> {
//!         Ok(batch)
//!     }
//! }
//!
//! struct NoopFactory;
//! impl TransformFactory for NoopFactory {
//!     const NAME: &'static str = "noop";
//!     const DESCRIPTION: &'static str = "Passes batches through";
//!     type Config = NoopConfig;
//!     fn build(_: NoopConfig) -> Result<impl Transform, ConfigErrors> {
//!         Ok(Noop)
//!     }
//! }
//!
//! dataforge_core::register_transform!(NoopFactory);
//!
//! let registry = Registry::from_inventory()?;
//! assert!(registry.get(ComponentKind::Transform, "noop").is_some());
//! # Ok::<(), dataforge_core::RegistryError>(())
//! ```
//! The macro uses [`inventory`]: every registration in every *linked* crate is found by
//! [`Registry::from_inventory`] with no list to keep.
//!
//! # The linking rule
//! A crate that is listed in `Cargo.toml` but never named in code is **not linked**, and its
//! registrations silently vanish. Every binary, example, bench and integration test names each
//! component crate it wants:
//! ```text
//! use dataforge_sources as _;
//! use dataforge_transforms as _;
//! use dataforge_destinations as _;
//! ```
//! or calls each crate's explicit `register(&mut Registry)` on a [`Registry::new`]. An empty
//! registry is an error ([`RegistryError::Empty`]) that points here, and an unknown `type`
//! says, besides the closest known name, that its crate may not be linked.
//!
//! # A component crate's `register`
//! `dataforge_core::component_crate!();`, once in the crate, generates its
//! `pub fn register(&mut Registry)` from the crate's own `register_*!` calls (by module path,
//! see [`Registry::register_crate`]): nothing to keep in step by hand, and registering a crate
//! both ways is a no-op.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use serde::de::DeserializeOwned;

use crate::component::{Destination, Source, Transform};
use crate::config::OnError;
use crate::error::{ConfigErrors, ConfigIssue, RegistryError};
use crate::pipeline::{Named, PipelineBuilder};

/// The kind of a component.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentKind {
    /// Produces records.
    Source,
    /// Maps batches.
    Transform,
    /// Writes records.
    Destination,
}

impl fmt::Display for ComponentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ComponentKind::Source => "source",
            ComponentKind::Transform => "transform",
            ComponentKind::Destination => "destination",
        })
    }
}

/// Builds a [`Source`] from its typed config.
pub trait SourceFactory: 'static {
    /// The `type` name in pipeline files.
    const NAME: &'static str;
    /// One line saying what it does.
    const DESCRIPTION: &'static str;
    /// The config (use `#[serde(deny_unknown_fields)]`).
    type Config: DeserializeOwned + schemars::JsonSchema;
    /// Validates the config and builds the source. Pure: no I/O (connect in `extract`).
    ///
    /// # Errors
    /// Every problem found, each at its path inside the config.
    fn build(config: Self::Config) -> Result<impl Source, ConfigErrors>;
}

/// Builds a [`Transform`] from its typed config.
pub trait TransformFactory: 'static {
    /// The `type` name in pipeline files.
    const NAME: &'static str;
    /// One line saying what it does.
    const DESCRIPTION: &'static str;
    /// The config (use `#[serde(deny_unknown_fields)]`; `type` and `on_error` are taken off first).
    type Config: DeserializeOwned + schemars::JsonSchema;
    /// Validates the config and builds the transform (compile expressions here, once).
    ///
    /// # Errors
    /// Every problem found, each at its path inside the config.
    fn build(config: Self::Config) -> Result<impl Transform, ConfigErrors>;
}

/// Builds a [`Destination`] from its typed config.
pub trait DestinationFactory: 'static {
    /// The `type` name in pipeline files.
    const NAME: &'static str;
    /// One line saying what it does.
    const DESCRIPTION: &'static str;
    /// The config (use `#[serde(deny_unknown_fields)]`).
    type Config: DeserializeOwned + schemars::JsonSchema;
    /// Validates the config and builds the destination. Pure: no I/O (connect in `pre_load`).
    ///
    /// # Errors
    /// Every problem found, each at its path inside the config.
    fn build(config: Self::Config) -> Result<impl Destination, ConfigErrors>;
}

type BuildFn<T> = fn(serde_json::Value) -> Result<Arc<T>, ConfigErrors>;

/// The factory behind a registration, by kind.
#[derive(Clone, Copy)]
pub enum Builder {
    /// Builds a source.
    Source(BuildFn<dyn Source>),
    /// Builds a transform.
    Transform(BuildFn<dyn Transform>),
    /// Builds a destination.
    Destination(BuildFn<dyn Destination>),
}

/// One registered component: its kind, name, description, schema and factory.
#[derive(Clone, Copy)]
pub struct Registration {
    /// Source, transform or destination.
    pub kind: ComponentKind,
    /// The `type` name.
    pub name: &'static str,
    /// One line saying what it does.
    pub description: &'static str,
    /// The module that registered it (to name both sides of a duplicate).
    pub module: &'static str,
    schema: fn() -> schemars::Schema,
    builder: Builder,
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("module", &self.module)
            .finish_non_exhaustive()
    }
}

inventory::collect!(Registration);

/// Deserialises a component's typed config, naming the JSON path of the first problem.
///
/// # Errors
/// The path inside the config (empty for the object itself) and serde's message.
pub fn parse_config<C: DeserializeOwned>(value: serde_json::Value) -> Result<C, ConfigErrors> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        ConfigErrors::one(ConfigIssue::at(path, e.into_inner().to_string()))
    })
}

fn build_source<F: SourceFactory>(v: serde_json::Value) -> Result<Arc<dyn Source>, ConfigErrors> {
    Ok(Arc::new(F::build(parse_config(v)?)?))
}
fn build_transform<F: TransformFactory>(
    v: serde_json::Value,
) -> Result<Arc<dyn Transform>, ConfigErrors> {
    Ok(Arc::new(F::build(parse_config(v)?)?))
}
fn build_destination<F: DestinationFactory>(
    v: serde_json::Value,
) -> Result<Arc<dyn Destination>, ConfigErrors> {
    Ok(Arc::new(F::build(parse_config(v)?)?))
}
fn schema_of<C: schemars::JsonSchema>() -> schemars::Schema {
    schemars::schema_for!(C)
}

impl Registration {
    /// The registration of a source factory; `module` is `module_path!()` of the caller.
    pub const fn source<F: SourceFactory>(module: &'static str) -> Self {
        Self {
            kind: ComponentKind::Source,
            name: F::NAME,
            description: F::DESCRIPTION,
            module,
            schema: schema_of::<F::Config>,
            builder: Builder::Source(build_source::<F>),
        }
    }

    /// The registration of a transform factory; `module` is `module_path!()` of the caller.
    pub const fn transform<F: TransformFactory>(module: &'static str) -> Self {
        Self {
            kind: ComponentKind::Transform,
            name: F::NAME,
            description: F::DESCRIPTION,
            module,
            schema: schema_of::<F::Config>,
            builder: Builder::Transform(build_transform::<F>),
        }
    }

    /// The registration of a destination factory; `module` is `module_path!()` of the caller.
    pub const fn destination<F: DestinationFactory>(module: &'static str) -> Self {
        Self {
            kind: ComponentKind::Destination,
            name: F::NAME,
            description: F::DESCRIPTION,
            module,
            schema: schema_of::<F::Config>,
            builder: Builder::Destination(build_destination::<F>),
        }
    }

    /// The JSON Schema of the component's config (without `type`).
    pub fn schema(&self) -> schemars::Schema {
        (self.schema)()
    }

    /// The factory.
    pub fn builder(&self) -> Builder {
        self.builder
    }
}

/// Registers a [`SourceFactory`] at link time.
#[macro_export]
macro_rules! register_source {
    ($factory:ty) => {
        $crate::inventory::submit! {
            $crate::registry::Registration::source::<$factory>(::core::module_path!())
        }
    };
}

/// Registers a [`TransformFactory`] at link time.
#[macro_export]
macro_rules! register_transform {
    ($factory:ty) => {
        $crate::inventory::submit! {
            $crate::registry::Registration::transform::<$factory>(::core::module_path!())
        }
    };
}

/// Registers a [`DestinationFactory`] at link time.
#[macro_export]
macro_rules! register_destination {
    ($factory:ty) => {
        $crate::inventory::submit! {
            $crate::registry::Registration::destination::<$factory>(::core::module_path!())
        }
    };
}

/// What an unknown `type` may mean besides a typo: the crate that registers it is not linked.
const LINKING_HINT: &str = "if it comes from a crate, is that crate linked? a crate nothing \
    names is not linked: `use my_components as _;` (see the `registry` module docs of \
    dataforge-core)";

/// A transform built from its config, with the `on_error` policy the config gave it.
#[derive(Clone)]
#[non_exhaustive]
pub struct BuiltTransform {
    /// The `type` name.
    pub name: String,
    /// The transform.
    pub component: Arc<dyn Transform>,
    /// What happens to the rows it rejects (`fail` unless the config said otherwise).
    pub on_error: OnError,
}

impl fmt::Debug for BuiltTransform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BuiltTransform")
            .field("name", &self.name)
            .field("on_error", &self.on_error)
            .finish_non_exhaustive()
    }
}

impl BuiltTransform {
    /// The named transform and its policy, for [`PipelineBuilder::transform_with`].
    pub fn into_parts(self) -> (Named<dyn Transform>, OnError) {
        (
            Named {
                name: self.name,
                component: self.component,
            },
            self.on_error,
        )
    }
}

impl PipelineBuilder {
    /// Adds a transform built by [`Registry::build_transform`], with the `on_error` policy of
    /// its config.
    pub fn built_transform(self, transform: BuiltTransform) -> Self {
        let (named, on_error) = transform.into_parts();
        self.transform_with(named, on_error)
    }
}

/// Generates a component crate's `register(&mut Registry)`: put
/// `dataforge_core::component_crate!();` once in the crate (at its root, by convention).
///
/// The function registers every component that the crate submits with
/// [`register_source!`](crate::register_source), [`register_transform!`](crate::register_transform)
/// and [`register_destination!`](crate::register_destination), found by module path (see
/// [`Registry::register_crate`]): there is no list to keep, components behind a cargo feature
/// are in it exactly when they are compiled, and registering a crate both ways (link time and
/// `register`) is a no-op, not a duplicate.
///
/// ```standalone_crate
/// # use dataforge_core::schemars::{self, JsonSchema};
/// # use dataforge_core::{Batch, ComponentError, ConfigErrors, RowContext, Transform, TransformFactory};
/// # #[derive(serde::Deserialize, JsonSchema)] #[serde(deny_unknown_fields)] struct NoopConfig {}
/// # struct Noop;
/// # impl Transform for Noop {
/// #     fn transform(&self, b: Batch, _: &mut RowContext<'_>) -> Result<Batch, ComponentError> { Ok(b) }
/// # }
/// # struct NoopFactory;
/// # impl TransformFactory for NoopFactory {
/// #     const NAME: &'static str = "noop";
/// #     const DESCRIPTION: &'static str = "Passes batches through";
/// #     type Config = NoopConfig;
/// #     fn build(_: NoopConfig) -> Result<impl Transform, ConfigErrors> { Ok(Noop) }
/// # }
/// use dataforge_core::{ComponentKind, Registry};
///
/// dataforge_core::register_transform!(NoopFactory);
/// dataforge_core::component_crate!(); // defines `pub fn register(&mut Registry)`
///
/// let mut registry = Registry::new();
/// register(&mut registry)?;
/// assert_eq!(registry.names(ComponentKind::Transform), ["noop"]);
/// # Ok::<(), dataforge_core::RegistryError>(())
/// ```
#[macro_export]
macro_rules! component_crate {
    () => {
        /// Adds every component of this crate (each `register_source!`, `register_transform!`
        /// and `register_destination!` in it) to `registry`, for use without link-time
        /// registration. Calling it also links the crate.
        ///
        /// # Errors
        /// When another crate registered one of the same kind and name.
        pub fn register(
            registry: &mut $crate::Registry,
        ) -> ::core::result::Result<(), $crate::RegistryError> {
            registry.register_crate(::core::module_path!())
        }
    };
}

/// Component types by kind and name, sorted.
#[derive(Clone, Default)]
pub struct Registry {
    entries: BTreeMap<(ComponentKind, &'static str), Registration>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.entries.keys()).finish()
    }
}

impl Registry {
    /// An empty registry, for explicit `register(&mut Registry)` calls.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every registration submitted by a linked crate.
    ///
    /// # Errors
    /// [`RegistryError::Duplicate`] when two differ in module but share kind and name;
    /// [`RegistryError::Empty`] when nothing is linked.
    pub fn from_inventory() -> Result<Self, RegistryError> {
        let mut registry = Self::new();
        for r in inventory::iter::<Registration> {
            registry.register(*r)?;
        }
        if registry.entries.is_empty() {
            return Err(RegistryError::Empty);
        }
        Ok(registry)
    }

    /// The link-time registry, built once.
    ///
    /// # Errors
    /// As [`Registry::from_inventory`].
    pub fn global() -> Result<&'static Registry, RegistryError> {
        static GLOBAL: OnceLock<Result<Registry, RegistryError>> = OnceLock::new();
        GLOBAL
            .get_or_init(Self::from_inventory)
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Adds a registration. Registering the very same one again (same module) is a no-op.
    ///
    /// # Errors
    /// [`RegistryError::Duplicate`], naming both modules, when another has the same kind and name.
    pub fn register(&mut self, registration: Registration) -> Result<(), RegistryError> {
        let key = (registration.kind, registration.name);
        if let Some(existing) = self.entries.get(&key) {
            if existing.module == registration.module {
                return Ok(());
            }
            return Err(RegistryError::Duplicate {
                kind: registration.kind,
                name: registration.name.to_owned(),
                first: existing.module.to_owned(),
                second: registration.module.to_owned(),
            });
        }
        self.entries.insert(key, registration);
        Ok(())
    }

    /// Adds every registration submitted (with the `register_*!` macros) by the crate of the
    /// module `module` (`my_components` or `my_components::sub`: the crate is its first
    /// segment). Behind [`component_crate!`](crate::component_crate); calling it from that
    /// crate links the crate, so its registrations are there to find.
    ///
    /// # Errors
    /// [`RegistryError::Duplicate`], as [`Registry::register`].
    pub fn register_crate(&mut self, module: &str) -> Result<(), RegistryError> {
        let krate = module.split("::").next().unwrap_or(module);
        let mut found: Vec<Registration> = inventory::iter::<Registration>
            .into_iter()
            .filter(|r| {
                r.module
                    .strip_prefix(krate)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
            })
            .copied()
            .collect();
        // The order inventory gives is the linker's: sort, so a duplicate names the same
        // modules every time.
        found.sort_by_key(|r| (r.kind, r.name, r.module));
        for r in found {
            self.register(r)?;
        }
        Ok(())
    }

    /// The registration of `kind` named `name`.
    pub fn get(&self, kind: ComponentKind, name: &str) -> Option<&Registration> {
        self.entries
            .iter()
            .find(|((k, n), _)| *k == kind && *n == name)
            .map(|(_, r)| r)
    }

    /// The names of `kind`, sorted.
    pub fn names(&self, kind: ComponentKind) -> Vec<&'static str> {
        self.entries
            .keys()
            .filter(|(k, _)| *k == kind)
            .map(|(_, n)| *n)
            .collect()
    }

    /// Every registration, sorted by kind then name.
    pub fn iter(&self) -> impl Iterator<Item = &Registration> {
        self.entries.values()
    }

    /// True when nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn lookup(&self, kind: ComponentKind, name: &str) -> Result<&Registration, ConfigIssue> {
        self.get(kind, name).ok_or_else(|| {
            let known = self.names(kind);
            let message = if self.is_empty() {
                RegistryError::Empty.to_string()
            } else if known.is_empty() {
                format!(
                    "unknown {kind} type `{name}`: no {kind} types are registered; {LINKING_HINT}"
                )
            } else {
                let hint = closest(name, &known)
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                format!(
                    "unknown {kind} type `{name}`{hint}; known: {}; {LINKING_HINT}",
                    known.join(", ")
                )
            };
            ConfigIssue::at("type", message)
        })
    }

    /// Builds a source from its config object (`{"type": "file", ...}`).
    ///
    /// # Errors
    /// Every problem, with paths relative to the object.
    pub fn build_source(
        &self,
        config: &serde_json::Value,
    ) -> Result<Named<dyn Source>, ConfigErrors> {
        let (name, rest) = split_type(config)?;
        match self.lookup(ComponentKind::Source, &name)?.builder {
            Builder::Source(build) => Ok(Named {
                component: build(rest)?,
                name,
            }),
            _ => unreachable_kind(),
        }
    }

    /// Builds a transform from its config object, as a pipeline file's `transforms` entry:
    /// `{"type": "cast", "columns": {...}, "on_error": "skip"}` (`on_error` is optional,
    /// `fail` by default). Add it to a pipeline with [`PipelineBuilder::built_transform`], or
    /// take it apart with [`BuiltTransform::into_parts`] for
    /// [`PipelineBuilder::transform_with`].
    ///
    /// ```
    /// # use dataforge_core::schemars::{self, JsonSchema};
    /// # use dataforge_core::{Batch, ComponentError, ConfigErrors, RowContext, Transform, TransformFactory};
    /// # #[derive(serde::Deserialize, JsonSchema)] #[serde(deny_unknown_fields)] struct NoopConfig {}
    /// # struct Noop;
    /// # impl Transform for Noop {
    /// #     fn transform(&self, b: Batch, _: &mut RowContext<'_>) -> Result<Batch, ComponentError> { Ok(b) }
    /// # }
    /// # struct NoopFactory;
    /// # impl TransformFactory for NoopFactory {
    /// #     const NAME: &'static str = "noop";
    /// #     const DESCRIPTION: &'static str = "Passes batches through";
    /// #     type Config = NoopConfig;
    /// #     fn build(_: NoopConfig) -> Result<impl Transform, ConfigErrors> { Ok(Noop) }
    /// # }
    /// use dataforge_core::{OnError, Registry, registry::Registration};
    ///
    /// let mut registry = Registry::new();
    /// registry.register(Registration::transform::<NoopFactory>(module_path!()))?;
    /// let step = registry.build_transform(&serde_json::json!({"type": "noop", "on_error": "skip"}))?;
    /// assert_eq!((step.name.as_str(), step.on_error), ("noop", OnError::Skip));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// Every problem, with paths relative to the object (`on_error` included).
    pub fn build_transform(
        &self,
        config: &serde_json::Value,
    ) -> Result<BuiltTransform, ConfigErrors> {
        let (name, mut rest) = split_type(config)?;
        let on_error = match rest.as_object_mut().and_then(|m| m.remove("on_error")) {
            None => Ok(OnError::default()),
            Some(v) => serde_json::from_value::<OnError>(v)
                .map_err(|e| ConfigIssue::at("on_error", e.to_string())),
        };
        let built = match self.lookup(ComponentKind::Transform, &name)?.builder {
            Builder::Transform(build) => build(rest),
            _ => unreachable_kind(),
        };
        match (built, on_error) {
            (Ok(component), Ok(on_error)) => Ok(BuiltTransform {
                name,
                component,
                on_error,
            }),
            (built, on_error) => {
                let mut errors = on_error.err().map(ConfigErrors::one).unwrap_or_default();
                if let Err(e) = built {
                    errors.0.extend(e.0);
                }
                Err(errors)
            }
        }
    }

    /// Builds a destination from its config object.
    ///
    /// # Errors
    /// Every problem, with paths relative to the object.
    pub fn build_destination(
        &self,
        config: &serde_json::Value,
    ) -> Result<Named<dyn Destination>, ConfigErrors> {
        let (name, rest) = split_type(config)?;
        match self.lookup(ComponentKind::Destination, &name)?.builder {
            Builder::Destination(build) => Ok(Named {
                component: build(rest)?,
                name,
            }),
            _ => unreachable_kind(),
        }
    }
}

fn unreachable_kind<T>() -> Result<T, ConfigErrors> {
    // `lookup` filters by kind, and each constructor pairs its kind with its builder.
    Err(ConfigIssue::at("type", "internal error: registration kind mismatch").into())
}

/// Splits `{"type": "x", ...rest}` into `x` and the rest.
fn split_type(config: &serde_json::Value) -> Result<(String, serde_json::Value), ConfigIssue> {
    let serde_json::Value::Object(map) = config else {
        return Err(ConfigIssue::at(
            "",
            format!(
                "expected an object with a `type`, found {}",
                json_kind(config)
            ),
        ));
    };
    let mut rest = map.clone();
    match rest.remove("type") {
        Some(serde_json::Value::String(name)) => Ok((name, serde_json::Value::Object(rest))),
        Some(other) => Err(ConfigIssue::at(
            "type",
            format!("expected a string, found {}", json_kind(&other)),
        )),
        None => Err(ConfigIssue::at("", "missing field `type`")),
    }
}

/// The JSON kind of a value, for messages.
pub(crate) fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// The known name closest to `name` (edit distance at most 2).
fn closest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    // A name this long is nobody's typo, and comparing it would cost time for nothing.
    if name.len() > 64 {
        return None;
    }
    known
        .iter()
        .map(|k| (edit_distance(name, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Batch, ComponentError, RowContext};

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct NoopConfig {
        #[serde(default)]
        fail: bool,
    }
    struct Noop;
    impl Transform for Noop {
        fn transform(&self, b: Batch, _: &mut RowContext<'_>) -> Result<Batch, ComponentError> {
            Ok(b)
        }
    }
    struct NoopFactory;
    impl TransformFactory for NoopFactory {
        const NAME: &'static str = "noop";
        const DESCRIPTION: &'static str = "passes batches through";
        type Config = NoopConfig;
        fn build(c: NoopConfig) -> Result<impl Transform, ConfigErrors> {
            if c.fail {
                return Err(ConfigIssue::at("fail", "is true").into());
            }
            Ok(Noop)
        }
    }
    crate::register_transform!(NoopFactory);

    fn noop_registry() -> Registry {
        let mut r = Registry::new();
        r.register(Registration::transform::<NoopFactory>(module_path!()))
            .expect("registers");
        r
    }

    #[test]
    fn suggests_close_names() {
        assert_eq!(closest("flaten", &["cast", "flatten"]), Some("flatten"));
        assert_eq!(closest("zzz", &["cast", "flatten"]), None);
    }

    #[test]
    fn an_unknown_type_always_mentions_linking() {
        let r = noop_registry();
        for config in [
            serde_json::json!({"type": "nop"}),
            serde_json::json!({"type": "uppercase"}),
        ] {
            let e = r.build_transform(&config).expect_err("unknown").to_string();
            assert!(e.contains("known: noop"), "{e}");
            assert!(e.contains("`use my_components as _;`"), "{e}");
        }
        let e = r
            .build_source(&serde_json::json!({"type": "file"}))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("no source types are registered"), "{e}");
        assert!(e.contains("`use my_components as _;`"), "{e}");
        let typo = r
            .build_transform(&serde_json::json!({"type": "nop"}))
            .expect_err("unknown")
            .to_string();
        assert!(typo.contains("(did you mean `noop`?)"), "{typo}");
    }

    #[test]
    fn build_transform_takes_on_error_as_a_pipeline_file_does() {
        let r = noop_registry();
        let step = r
            .build_transform(&serde_json::json!({"type": "noop"}))
            .expect("valid");
        assert_eq!((step.name.as_str(), step.on_error), ("noop", OnError::Fail));
        let step = r
            .build_transform(&serde_json::json!({"type": "noop", "on_error": "dead_letter"}))
            .expect("valid");
        assert_eq!(step.on_error, OnError::DeadLetter);
        let (named, on_error) = step.into_parts();
        assert_eq!(
            (named.name.as_str(), on_error),
            ("noop", OnError::DeadLetter)
        );
        // A bad policy and a bad config are both reported, each at its path.
        let e = r
            .build_transform(
                &serde_json::json!({"type": "noop", "on_error": "ignore", "fail": true}),
            )
            .expect_err("invalid");
        let paths: Vec<&str> = e.issues().iter().map(|i| i.path.as_str()).collect();
        assert_eq!(paths, ["on_error", "fail"], "{e}");
        assert!(e.to_string().contains("unknown variant `ignore`"), "{e}");
    }

    #[test]
    fn a_crate_registers_what_its_macros_submitted_and_again_is_a_no_op() {
        let mut r = Registry::new();
        r.register_crate(module_path!()).expect("registers");
        assert_eq!(r.names(ComponentKind::Transform), ["noop"]);
        r.register_crate("dataforge_core")
            .expect("the same: a no-op");
        let mut linked = Registry::from_inventory().expect("linked");
        linked
            .register_crate("dataforge_core")
            .expect("both ways: a no-op");
        // A prefix of the crate's name is another crate.
        let mut none = Registry::new();
        none.register_crate("dataforge").expect("nothing");
        assert!(none.is_empty());
    }
}
