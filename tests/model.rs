//! `#[vibee::model]` from a user's crate: names, initialisation, config data and checks,
//! the summary table, and safetensors round trips with their errors.

use vibee::runtime::nn::{
    Embedding, EmbeddingConfig, Init, InitRng, LayerNorm, LayerNormConfig, Linear, LinearConfig,
    Model, ModelConfig, Module, Param,
};

/// A small tagger: embeddings, a stack of linear layers, an optional norm and head.
#[vibee::model]
#[derive(Debug, Clone)]
pub struct Tagger {
    /// Vocabulary.
    #[config(check = vocab >= 2)]
    vocab: usize,
    /// Width.
    #[config(check = width >= 1, check = width.is_multiple_of(4))]
    width: usize,
    /// Hidden layers.
    #[config(default = 2)]
    depth: usize,
    /// Whether a norm precedes the head.
    #[config(default = true)]
    normed: bool,
    /// Name of the task (carried, not used by the shapes).
    #[config(default = String::from("pos"))]
    task: String,
    #[module(config = EmbeddingConfig::new(vocab, width), name = "tok")]
    embed: Embedding,
    #[module(config = LinearConfig::new(width, width), len = depth, init = xavier_uniform)]
    hidden: Vec<Linear>,
    #[module(config = LayerNormConfig::new(width), when = normed)]
    norm: Option<LayerNorm>,
    #[param(shape = [vocab, width], init = xavier_normal(2.0))]
    head: Param,
    #[param(shape = [vocab], init = zeros, when = normed)]
    head_bias: Option<Param>,
}

fn config() -> TaggerConfig {
    TaggerConfig::new(10, 8)
}

fn names(m: &dyn Module) -> Vec<String> {
    m.parameters().iter().map(|p| p.name.clone()).collect()
}

#[test]
fn parameters_are_named_by_field_in_order() -> Result<(), Box<dyn std::error::Error>> {
    let m = Tagger::init(&config(), 7)?;
    assert_eq!(
        names(&m),
        [
            "tok.weight",
            "hidden.0.weight",
            "hidden.0.bias",
            "hidden.1.weight",
            "hidden.1.bias",
            "norm.weight",
            "norm.bias",
            "head",
            "head_bias"
        ]
    );
    assert_eq!(m.num_params(), 80 + 2 * (64 + 8) + 16 + 80 + 10);
    assert_eq!(m.hidden.len(), 2);
    assert_eq!(m.config(), config());
    Ok(())
}

#[test]
fn optional_fields_follow_their_condition() -> Result<(), Box<dyn std::error::Error>> {
    let mut c = config();
    c.normed = false;
    c.depth = 0;
    let m = Tagger::init(&c, 7)?;
    assert_eq!(names(&m), ["tok.weight", "head"]);
    assert!(m.norm.is_none() && m.head_bias.is_none());
    Ok(())
}

#[test]
fn initialisation_is_seeded_and_follows_each_rule() -> Result<(), Box<dyn std::error::Error>> {
    let (a, b) = (Tagger::init(&config(), 3)?, Tagger::init(&config(), 3)?);
    let c = Tagger::init(&config(), 4)?;
    let flat =
        |m: &Tagger| -> Vec<f32> { m.parameters().iter().flat_map(|p| p.data.clone()).collect() };
    assert_eq!(flat(&a), flat(&b));
    assert_ne!(flat(&a), flat(&c));
    // The module-level override turns the Linear's own uniform(1/√in) into Xavier uniform:
    // bound √(6 / (8 + 8)) ≈ 0.612 > 1/√8 ≈ 0.354; many draws exceed the Linear bound.
    let w = &a.hidden[0].weight.data;
    assert!(w.iter().all(|v| v.abs() <= (6.0f32 / 16.0).sqrt()));
    assert!(w.iter().any(|v| v.abs() > 1.0 / 8f32.sqrt()));
    // Norms keep ones/zeros; the head's Xavier normal has std 2·√(2 / 18) ≈ 0.667.
    let norm = a.norm.as_ref().ok_or("norm")?;
    assert!(norm.weight.data.iter().all(|&v| v == 1.0));
    assert!(
        a.head_bias
            .as_ref()
            .ok_or("bias")?
            .data
            .iter()
            .all(|&v| v == 0.0)
    );
    let head = &a.head.data;
    let std = (head.iter().map(|v| v * v).sum::<f32>() / head.len() as f32).sqrt();
    assert!((0.4..1.0).contains(&std), "head std {std}");
    Ok(())
}

#[test]
fn xavier_rules_use_pytorch_fans() {
    let mut rng = InitRng::new(0);
    let p = Param::new(
        "w",
        &[30, 10, 3],
        Init::XavierUniform { gain: 1.0 },
        &mut rng,
    );
    // fan_in = 10·3, fan_out = 30·3: bound √(6 / 120).
    let bound = (6.0f32 / 120.0).sqrt();
    assert!(p.data.iter().all(|v| v.abs() <= bound));
    assert!(p.data.iter().any(|v| v.abs() > 0.9 * bound));
}

#[test]
fn config_reads_toml_with_defaults_and_refuses_unknown_keys()
-> Result<(), Box<dyn std::error::Error>> {
    let c: TaggerConfig = toml::from_str("vocab = 10\nwidth = 8\n")?;
    assert_eq!(c, config());
    assert_eq!((c.depth, c.normed, c.task.as_str()), (2, true, "pos"));
    let err = toml::from_str::<TaggerConfig>("vocab = 10\nwidth = 8\ndepht = 3\n")
        .expect_err("unknown key");
    assert!(err.to_string().contains("depht"), "{err}");
    let back: TaggerConfig = serde_json::from_str(&serde_json::to_string(&c)?)?;
    assert_eq!(back, c);
    Ok(())
}

#[test]
fn failed_checks_name_the_field_and_the_values() {
    let mut c = config();
    c.width = 6;
    let err = c.validate().expect_err("6 is not a multiple of 4");
    assert_eq!((err.config, err.field), ("TaggerConfig", "width"));
    assert_eq!(err.reason, "= 6 must satisfy `width.is_multiple_of(4)`");
    c.vocab = 1;
    let err = Tagger::init(&c, 0).expect_err("vocab 1");
    assert_eq!(
        err.to_string(),
        "TaggerConfig: `vocab` = 1 must satisfy `vocab >= 2`"
    );
}

#[test]
fn sub_model_configs_are_checked_too() {
    // Tagger's own checks pass; the sub-model's LinearConfig(0, 0) does not.
    #[vibee::model]
    #[derive(Debug)]
    struct Wrapper {
        #[config]
        width: usize,
        #[module(config = LinearConfig::new(width, width))]
        inner: Linear,
    }
    let err = Wrapper::init(&WrapperConfig::new(0), 0).expect_err("width 0");
    assert_eq!((err.config, err.field), ("LinearConfig", "d_in"));
}

#[test]
fn summary_lists_every_parameter_and_the_total() -> Result<(), Box<dyn std::error::Error>> {
    let m = Tagger::init(&config(), 0)?;
    let table = m.summary();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 1 + 9 + 1, "{table}");
    assert!(
        lines[1].starts_with("tok.weight") && lines[1].ends_with("80"),
        "{table}"
    );
    assert!(lines[10].starts_with("total (9 tensors)"), "{table}");
    assert!(lines[10].ends_with(&m.num_params().to_string()), "{table}");
    Ok(())
}

#[test]
fn safetensors_round_trip_and_strict_loading() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("tagger.safetensors");
    let a = Tagger::init(&config(), 1)?;
    a.save_safetensors(&path)?;
    let mut b = Tagger::init(&config(), 2)?;
    b.load_safetensors(&path)?;
    assert_eq!(a.parameters(), b.parameters());

    // A model without the optional tensors: the file has two it does not know.
    let mut c = config();
    c.normed = false;
    let mut small = Tagger::init(&c, 2)?;
    let before = small
        .parameters()
        .iter()
        .map(|p| p.data.clone())
        .collect::<Vec<_>>();
    let err = small.load_safetensors(&path).expect_err("extra tensors");
    assert_eq!(err.tensor, "head_bias");
    assert!(
        err.to_string()
            .contains("no parameter named head_bias, norm.bias, norm.weight"),
        "{err}"
    );
    let after = small
        .parameters()
        .iter()
        .map(|p| p.data.clone())
        .collect::<Vec<_>>();
    assert_eq!(before, after, "a failed load changes nothing");

    // The other way round: the file lacks tensors the model has.
    small.save_safetensors(&path)?;
    let err = b.load_safetensors(&path).expect_err("missing tensors");
    assert_eq!(err.tensor, "norm.weight");

    // A different shape, and a file that is not safetensors.
    let mut wide = Tagger::init(&TaggerConfig::new(10, 12), 0)?;
    a.save_safetensors(&path)?;
    let err = wide.load_safetensors(&path).expect_err("shapes differ");
    assert!(
        err.to_string()
            .contains("has shape [10, 8], the model needs [10, 12]"),
        "{err}"
    );
    std::fs::write(&path, b"not a safetensors file")?;
    let err = b.load_safetensors(&path).expect_err("corrupt");
    assert_eq!(err.tensor, "file");
    Ok(())
}

#[test]
fn half_precision_files_load_into_f32() -> Result<(), Box<dyn std::error::Error>> {
    use safetensors_like::write_bf16;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("embed.safetensors");
    write_bf16(&path, "weight", &[2, 3], &[1.0, -2.0, 0.5, 3.0, 0.25, -1.5])?;
    let mut e = Embedding::init(&EmbeddingConfig::new(2, 3), 0)?;
    e.load_safetensors(&path)?;
    assert_eq!(e.weight.data, [1.0, -2.0, 0.5, 3.0, 0.25, -1.5]);
    Ok(())
}

/// A BF16 safetensors file written by hand from the format's definition: an 8-byte
/// little-endian header length, a JSON header, then the data.
mod safetensors_like {
    use std::path::Path;

    pub fn write_bf16(
        path: &Path,
        name: &str,
        shape: &[usize],
        values: &[f32],
    ) -> std::io::Result<()> {
        // bf16 is the top half of an f32: exact for these values.
        let data: Vec<u8> = values
            .iter()
            .flat_map(|v| ((v.to_bits() >> 16) as u16).to_le_bytes())
            .collect();
        let header = format!(
            r#"{{"{name}":{{"dtype":"BF16","shape":{shape:?},"data_offsets":[0,{}]}}}}"#,
            data.len()
        );
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(&data);
        std::fs::write(path, bytes)
    }
}

#[test]
fn forward_is_plain_rust_over_tensors_and_errors_name_the_call_line() {
    use vibee::dsl::graph::{DType, InputRole, Tracer};
    let lin = Linear::init(&LinearConfig::new(4, 3), 0).expect("valid");
    let tr = Tracer::new();
    let x = tr.input("x", &[2, 4], DType::F32, InputRole::Data);
    let y = lin.forward(&x).gelu() * 0.5 + 1.0;
    let g = tr.finish(&[&y]).expect("shapes agree");
    assert_eq!(g.shape(g.outputs[0]), &[2, 3]);
    // Two parameters and one data input.
    assert_eq!(g.inputs().count(), 3);

    let tr = Tracer::new();
    let x = tr.input("x", &[2, 5], DType::F32, InputRole::Data);
    let (y, line) = (lin.forward(&x), line!());
    let y = y.gelu(); // skipped: the trace already failed
    let err = tr.finish(&[&y]).expect_err("width 5 into a 4-wide layer");
    let text = err.to_string();
    assert!(text.contains("`matmul`"), "{text}");
    assert!(text.contains(&format!("tests/model.rs:{line}")), "{text}");
    assert!(text.contains("[[2, 5], [3, 4]]"), "{text}");
}
