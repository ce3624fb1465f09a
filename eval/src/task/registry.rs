//! Built-in task files and groups, plus user task files.
//!
//! Built-ins are the YAML files under `eval/tasks/`, compiled in. MMLU and the
//! two MATH variants are one template file each, instantiated per subject.

use std::collections::BTreeMap;
use std::path::Path;

use super::config::{AggregateSpec, GroupConfig, TaskConfig};
use crate::error::{EvalError, Result};

const BUILTIN: &[(&str, &str)] = &[
    ("arc_easy.yaml", include_str!("../../tasks/arc_easy.yaml")),
    (
        "arc_challenge.yaml",
        include_str!("../../tasks/arc_challenge.yaml"),
    ),
    ("hellaswag.yaml", include_str!("../../tasks/hellaswag.yaml")),
    (
        "winogrande.yaml",
        include_str!("../../tasks/winogrande.yaml"),
    ),
    ("gsm8k.yaml", include_str!("../../tasks/gsm8k.yaml")),
    ("humaneval.yaml", include_str!("../../tasks/humaneval.yaml")),
    (
        "humaneval_64.yaml",
        include_str!("../../tasks/humaneval_64.yaml"),
    ),
    (
        "humaneval_plus.yaml",
        include_str!("../../tasks/humaneval_plus.yaml"),
    ),
    (
        "humaneval_instruct.yaml",
        include_str!("../../tasks/humaneval_instruct.yaml"),
    ),
    ("mbpp.yaml", include_str!("../../tasks/mbpp.yaml")),
    (
        "mbpp_instruct.yaml",
        include_str!("../../tasks/mbpp_instruct.yaml"),
    ),
    ("mbpp_plus.yaml", include_str!("../../tasks/mbpp_plus.yaml")),
    (
        "mbpp_plus_instruct.yaml",
        include_str!("../../tasks/mbpp_plus_instruct.yaml"),
    ),
    (
        "humaneval_64_instruct.yaml",
        include_str!("../../tasks/humaneval_64_instruct.yaml"),
    ),
    ("wikitext.yaml", include_str!("../../tasks/wikitext.yaml")),
    (
        "bigcodebench.yaml",
        include_str!("../../tasks/bigcodebench.yaml"),
    ),
];
const MMLU_TEMPLATE: &str = include_str!("../../tasks/mmlu.yaml");
const HENDRYCKS_TEMPLATE: &str = include_str!("../../tasks/hendrycks_math.yaml");
const MINERVA_TEMPLATE: &str = include_str!("../../tasks/minerva_math.yaml");

/// MMLU subjects and their category group (as tagged in the harness).
pub const MMLU_SUBJECTS: &[(&str, &str)] = &[
    ("abstract_algebra", "stem"),
    ("anatomy", "stem"),
    ("astronomy", "stem"),
    ("business_ethics", "other"),
    ("clinical_knowledge", "other"),
    ("college_biology", "stem"),
    ("college_chemistry", "stem"),
    ("college_computer_science", "stem"),
    ("college_mathematics", "stem"),
    ("college_medicine", "other"),
    ("college_physics", "stem"),
    ("computer_security", "stem"),
    ("conceptual_physics", "stem"),
    ("econometrics", "social_sciences"),
    ("electrical_engineering", "stem"),
    ("elementary_mathematics", "stem"),
    ("formal_logic", "humanities"),
    ("global_facts", "other"),
    ("high_school_biology", "stem"),
    ("high_school_chemistry", "stem"),
    ("high_school_computer_science", "stem"),
    ("high_school_european_history", "humanities"),
    ("high_school_geography", "social_sciences"),
    ("high_school_government_and_politics", "social_sciences"),
    ("high_school_macroeconomics", "social_sciences"),
    ("high_school_mathematics", "stem"),
    ("high_school_microeconomics", "social_sciences"),
    ("high_school_physics", "stem"),
    ("high_school_psychology", "social_sciences"),
    ("high_school_statistics", "stem"),
    ("high_school_us_history", "humanities"),
    ("high_school_world_history", "humanities"),
    ("human_aging", "other"),
    ("human_sexuality", "social_sciences"),
    ("international_law", "humanities"),
    ("jurisprudence", "humanities"),
    ("logical_fallacies", "humanities"),
    ("machine_learning", "stem"),
    ("management", "other"),
    ("marketing", "other"),
    ("medical_genetics", "other"),
    ("miscellaneous", "other"),
    ("moral_disputes", "humanities"),
    ("moral_scenarios", "humanities"),
    ("nutrition", "other"),
    ("philosophy", "humanities"),
    ("prehistory", "humanities"),
    ("professional_accounting", "other"),
    ("professional_law", "humanities"),
    ("professional_medicine", "other"),
    ("professional_psychology", "social_sciences"),
    ("public_relations", "social_sciences"),
    ("security_studies", "social_sciences"),
    ("sociology", "social_sciences"),
    ("us_foreign_policy", "social_sciences"),
    ("virology", "other"),
    ("world_religions", "humanities"),
];
/// MMLU category groups, in the harness's order.
pub const MMLU_CATEGORIES: &[&str] = &["stem", "other", "social_sciences", "humanities"];
/// MATH subjects: task suffix and dataset directory.
pub const MATH_SUBJECTS: &[(&str, &str)] = &[
    ("algebra", "algebra"),
    ("counting_and_prob", "counting_and_probability"),
    ("geometry", "geometry"),
    ("intermediate_algebra", "intermediate_algebra"),
    ("num_theory", "number_theory"),
    ("prealgebra", "prealgebra"),
    ("precalc", "precalculus"),
];

/// Known tasks and groups.
#[derive(Debug, Default, Clone)]
pub struct Registry {
    /// Tasks by name.
    pub tasks: BTreeMap<String, TaskConfig>,
    /// Groups by name.
    pub groups: BTreeMap<String, GroupConfig>,
}

/// Tasks and groups chosen by a list of names.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Leaf tasks, in first-mention order.
    pub tasks: Vec<String>,
    /// Groups, children before parents.
    pub groups: Vec<GroupConfig>,
}

fn parse_task(path: &str, text: &str) -> Result<TaskConfig> {
    serde_yaml::from_str(text).map_err(|e| EvalError::TaskFile {
        path: path.into(),
        message: e.to_string(),
    })
}

fn group(name: &str, alias: Option<&str>, members: Vec<String>, metric: &str) -> GroupConfig {
    GroupConfig {
        group: name.into(),
        group_alias: alias.map(str::to_string),
        task: members,
        aggregate_metric_list: vec![AggregateSpec {
            metric: metric.into(),
            weight_by_size: true,
            filter_list: None,
        }],
        metadata: None,
    }
}

impl Registry {
    /// The built-in tasks and groups.
    pub fn builtin() -> Result<Self> {
        let mut reg = Registry::default();
        for (file, text) in BUILTIN {
            reg.insert_task(parse_task(&format!("<builtin>/{file}"), text)?);
        }
        for (subject, _) in MMLU_SUBJECTS {
            let text = MMLU_TEMPLATE
                .replace("{subject_words}", &subject.replace('_', " "))
                .replace("{subject}", subject);
            reg.insert_task(parse_task("<builtin>/mmlu.yaml", &text)?);
        }
        for cat in MMLU_CATEGORIES {
            let members = MMLU_SUBJECTS
                .iter()
                .filter(|(_, c)| c == cat)
                .map(|(s, _)| format!("mmlu_{s}"))
                .collect();
            reg.groups.insert(
                format!("mmlu_{cat}"),
                group(&format!("mmlu_{cat}"), Some(cat), members, "acc"),
            );
        }
        let cats = MMLU_CATEGORIES
            .iter()
            .map(|c| format!("mmlu_{c}"))
            .collect();
        reg.groups
            .insert("mmlu".into(), group("mmlu", None, cats, "acc"));
        for (prefix, template, metric) in [
            ("hendrycks_math", HENDRYCKS_TEMPLATE, "exact_match"),
            ("minerva_math", MINERVA_TEMPLATE, "exact_match_minerva_norm"),
        ] {
            for (subject, dir) in MATH_SUBJECTS {
                let text = template
                    .replace("{subject_dir}", dir)
                    .replace("{subject}", subject);
                reg.insert_task(parse_task(&format!("<builtin>/{prefix}.yaml"), &text)?);
            }
            let members = MATH_SUBJECTS
                .iter()
                .map(|(s, _)| format!("{prefix}_{s}"))
                .collect();
            reg.groups
                .insert(prefix.into(), group(prefix, None, members, metric));
        }
        Ok(reg)
    }

    /// Adds (or replaces) a task.
    pub fn insert_task(&mut self, config: TaskConfig) {
        self.tasks.insert(config.task.clone(), config);
    }

    /// Adds a user YAML file: a task, or a group if it has a `group` key.
    pub fn add_file(&mut self, path: &Path) -> Result<()> {
        let text = std::fs::read_to_string(path).map_err(|source| EvalError::Io {
            path: path.into(),
            source,
        })?;
        let shown = path.display().to_string();
        let value: serde_yaml::Value =
            serde_yaml::from_str(&text).map_err(|e| EvalError::TaskFile {
                path: shown.clone(),
                message: e.to_string(),
            })?;
        if value.get("group").is_some() {
            let g: GroupConfig =
                serde_yaml::from_value(value).map_err(|e| EvalError::TaskFile {
                    path: shown,
                    message: e.to_string(),
                })?;
            self.groups.insert(g.group.clone(), g);
        } else {
            self.insert_task(parse_task(&shown, &text)?);
        }
        Ok(())
    }

    /// Adds every `*.yaml`/`*.yml` file of a directory.
    pub fn add_dir(&mut self, dir: &Path) -> Result<()> {
        let entries = std::fs::read_dir(dir).map_err(|source| EvalError::Io {
            path: dir.into(),
            source,
        })?;
        let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        {
            self.add_file(p)?;
        }
        Ok(())
    }

    /// Expands task, group and tag names into leaf tasks and the groups involved.
    pub fn select(&self, names: &[String]) -> Result<Selection> {
        let mut sel = Selection::default();
        for name in names {
            self.expand(name, &mut sel, 0)?;
        }
        Ok(sel)
    }

    fn expand(&self, name: &str, sel: &mut Selection, depth: usize) -> Result<()> {
        if depth > 16 {
            return Err(EvalError::TaskFile {
                path: name.into(),
                message: "group nesting too deep (a cycle?)".into(),
            });
        }
        if self.tasks.contains_key(name) {
            if !sel.tasks.iter().any(|t| t == name) {
                sel.tasks.push(name.to_string());
            }
            return Ok(());
        }
        if let Some(g) = self.groups.get(name) {
            for member in &g.task {
                self.expand(member, sel, depth + 1)?;
            }
            if !sel.groups.iter().any(|x| x.group == g.group) {
                sel.groups.push(g.clone());
            }
            return Ok(());
        }
        let tagged: Vec<&String> = self
            .tasks
            .values()
            .filter(|t| t.tag.iter().any(|x| x == name))
            .map(|t| &t.task)
            .collect();
        if tagged.is_empty() {
            let mut known: Vec<&str> = self.groups.keys().map(String::as_str).collect();
            known.extend([
                "arc_easy",
                "arc_challenge",
                "hellaswag",
                "winogrande",
                "gsm8k",
                "mmlu_<subject>",
                "...",
            ]);
            return Err(EvalError::Unknown {
                kind: "task",
                name: name.into(),
                known: known.join(", "),
            });
        }
        for t in tagged {
            self.expand(t, sel, depth + 1)?;
        }
        Ok(())
    }

    /// Leaf tasks of a group, in member order.
    pub fn leaves(&self, group: &GroupConfig) -> Vec<String> {
        let mut sel = Selection::default();
        for m in &group.task {
            // Members were validated by `select`; an unknown one contributes nothing.
            let _ = self.expand(m, &mut sel, 1);
        }
        sel.tasks
    }
}
