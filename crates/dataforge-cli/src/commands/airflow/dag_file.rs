//! One Airflow DAG file for one pipeline: a DAG with the pipeline's `dag_id`, schedule, dates,
//! `catchup`, tags, description and owner, whose one task runs `dataforge run` for the run's
//! data interval and prints the run report to the task log.
//!
//! What the file respects, measured on Airflow 2.10.5 and 3.3.2: `schedule=` (3.x refuses
//! `schedule_interval=`); a cron schedule (presets included) as
//! `CronDataIntervalTimetable(cron, timezone=…)`, so both versions give 2.x's data intervals;
//! only the `data_interval_start` template (3.x has no `execution_date`, `next_ds`); absolute
//! paths and an explicit `cwd` (a `BashOperator` runs in a temporary directory); no `env=`
//! (without `append_env=True` it would replace the whole environment, `PATH` included).
//! Retries happen in `dataforge run` (the pipeline's `default_args.retries`), so the task has
//! `retries=0`: Airflow retrying too would multiply the attempts.

use dataforge_core::PipelineConfig;
use dataforge_core::chrono::{DateTime, Utc};
use dataforge_core::config::Schedule;

use super::python;

/// The logical date DataForge runs for: the start of Airflow's data interval. Both mean the
/// same on a scheduled run; on a manual one Airflow's `logical_date` is the trigger time while
/// the interval is the last complete one, and DataForge runs the interval starting at the date
/// it is given.
const LOGICAL_DATE_TEMPLATE: &str = "{{ data_interval_start.isoformat() }}";

/// The task's id in every exported DAG.
pub const TASK_ID: &str = "dataforge_run";

/// How the task runs `dataforge`.
#[derive(Debug, Clone)]
pub enum Task {
    /// A `BashOperator` on the Airflow worker.
    Bash {
        /// The `dataforge` executable (absolute).
        dataforge: String,
        /// The working directory the run's relative paths are read from (absolute).
        workdir: String,
    },
    /// A `KubernetesPodOperator` (the cncf.kubernetes provider).
    Kubernetes {
        /// The container image holding `dataforge` and the pipeline files.
        image: String,
        /// The `dataforge` executable in the image.
        dataforge: String,
    },
}

/// What goes into one DAG file.
#[derive(Debug)]
pub struct DagFile<'a> {
    /// The pipeline.
    pub config: &'a PipelineConfig,
    /// Its file, as `dataforge run` on the worker finds it (absolute).
    pub pipeline_file: &'a str,
    /// How the task runs.
    pub task: &'a Task,
    /// The start date of a scheduled pipeline that has none (DataForge then schedules from
    /// the present: the export's time is the closest fixed date to it).
    pub default_start: DateTime<Utc>,
}

/// Why a DAG file cannot be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DagFileError {
    /// A value would be read by Airflow as a Jinja template.
    #[error(
        "{what} contains Jinja markup (`{{{{`, `{{%` or `{{#`), which Airflow would render as a template"
    )]
    JinjaMarkup {
        /// Which value.
        what: &'static str,
    },
    /// A value a shell cannot carry.
    #[error("{what} contains a NUL character")]
    Nul {
        /// Which value.
        what: &'static str,
    },
}

impl DagFile<'_> {
    /// The Python source of the DAG file.
    ///
    /// # Errors
    /// A value that Airflow would render as a template or a shell cannot carry.
    pub fn render(&self) -> Result<String, DagFileError> {
        let c = self.config;
        let mut imports = vec![
            "import datetime".to_owned(),
            String::new(),
            "try:  # Airflow 3\n    from airflow.sdk import DAG\nexcept ImportError:  # Airflow 2\n    from airflow import DAG".to_owned(),
        ];
        let schedule = match &c.schedule_interval {
            None => "None".to_owned(),
            Some(Schedule::Once) => python::string("@once"),
            Some(Schedule::Cron { cron, .. }) => {
                imports.push(
                    "from airflow.timetables.interval import CronDataIntervalTimetable".to_owned(),
                );
                format!(
                    "CronDataIntervalTimetable({}, timezone={})",
                    python::string(cron),
                    python::string(c.timezone.name())
                )
            }
        };
        let start_date = match (c.start_date, &c.schedule_interval) {
            (Some(d), _) => python::datetime_utc(d),
            (None, Some(_)) => python::datetime_utc(self.default_start),
            (None, None) => "None".to_owned(),
        };
        let mut default_args = Vec::new();
        if let Some(owner) = &c.default_args.owner {
            default_args.push(format!("\"owner\": {}", python::string(owner)));
        }
        default_args.push("\"retries\": 0".to_owned());
        let operator = match self.task {
            Task::Bash { dataforge, workdir } => {
                imports.push(
                    "try:  # Airflow 3 (the standard provider)\n    from airflow.providers.standard.operators.bash import BashOperator\nexcept ImportError:  # Airflow 2\n    from airflow.operators.bash import BashOperator".to_owned(),
                );
                let command = self.bash_command(dataforge)?;
                no_jinja("the working directory", workdir)?;
                format!(
                    "    BashOperator(\n        task_id={task},\n        bash_command={command},\n        cwd={cwd},\n        retries=0,\n    )\n",
                    task = python::string(TASK_ID),
                    command = python::string(&command),
                    cwd = python::string(workdir),
                )
            }
            Task::Kubernetes { image, dataforge } => {
                imports.push(
                    "from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator"
                        .to_owned(),
                );
                no_jinja("the image", image)?;
                no_jinja("the dataforge executable", dataforge)?;
                no_jinja("the pipeline file's path", self.pipeline_file)?;
                no_jinja("the dag_id", &c.dag_id)?;
                let arguments = [
                    "run",
                    self.pipeline_file,
                    "--pipeline",
                    &c.dag_id,
                    "--logical-date",
                    LOGICAL_DATE_TEMPLATE,
                    // The container's standard output is the task log.
                    "--report",
                    "/dev/stdout",
                ];
                format!(
                    "    KubernetesPodOperator(\n        task_id={task},\n        image={image},\n        cmds={cmds},\n        arguments={arguments},\n        get_logs=True,\n        retries=0,\n    )\n",
                    task = python::string(TASK_ID),
                    image = python::string(image),
                    cmds = python::string_list(&[dataforge]),
                    arguments = python::string_list(&arguments),
                )
            }
        };
        Ok(format!(
            "{HEADER}\n{imports}\n\nwith DAG(\n    dag_id={dag_id},\n    description={description},\n    schedule={schedule},\n    start_date={start_date},\n    end_date={end_date},\n    catchup={catchup},\n    max_active_runs={max_active_runs},\n    tags={tags},\n    default_args={{{default_args}}},\n) as dag:\n{operator}",
            imports = imports.join("\n"),
            dag_id = python::string(&c.dag_id),
            description = python::optional(c.description.as_deref(), python::string),
            end_date = python::optional(c.end_date, python::datetime_utc),
            catchup = python::boolean(c.catchup),
            max_active_runs = c.max_active_runs,
            tags = python::string_list(&c.tags),
            default_args = default_args.join(", "),
        ))
    }

    /// The shell script of the `BashOperator`: the run, its report printed to the task log,
    /// and `dataforge`'s exit code as the task's (non-zero fails the task).
    fn bash_command(&self, dataforge: &str) -> Result<String, DagFileError> {
        no_jinja("the dataforge executable", dataforge)?;
        no_jinja("the pipeline file's path", self.pipeline_file)?;
        no_jinja("the dag_id", &self.config.dag_id)?;
        let quote = |what: &'static str, s: &str| {
            shlex::try_quote(s)
                .map(|q| q.into_owned())
                .map_err(|_| DagFileError::Nul { what })
        };
        Ok(format!(
            "report=\"$(mktemp)\"\n\
             {dataforge} run {file} --pipeline {dag_id} --logical-date '{LOGICAL_DATE_TEMPLATE}' --report \"$report\"\n\
             status=$?\n\
             if [ -s \"$report\" ]; then echo 'DataForge run report:'; cat \"$report\"; echo; fi\n\
             rm -f \"$report\"\n\
             exit \"$status\"\n",
            dataforge = quote("the dataforge executable", dataforge)?,
            file = quote("the pipeline file's path", self.pipeline_file)?,
            dag_id = quote("the dag_id", &self.config.dag_id)?,
        ))
    }
}

/// The top of every DAG file. Airflow's safe mode parses only files that mention both
/// "airflow" and "dag", as this text does.
const HEADER: &str =
    "\"\"\"Airflow DAG written by `dataforge airflow export`: runs one DataForge pipeline.

Do not edit: export the pipeline again. Retries happen inside `dataforge run` (the pipeline's
default_args.retries), so the task itself has retries=0.
\"\"\"
";

fn no_jinja(what: &'static str, value: &str) -> Result<(), DagFileError> {
    if ["{{", "{%", "{#"].iter().any(|m| value.contains(m)) {
        return Err(DagFileError::JinjaMarkup { what });
    }
    Ok(())
}
