//! The example kernels under `tests/expand/` compile through the facade (their expansion
//! snapshots are taken by `vibee-macros`' unit tests), their IR, printed by the IR's
//! pretty printer, matches `snapshots/ir/`, and their generated launchers check comptime
//! values before anything runs.

#[path = "expand/axpy.rs"]
mod axpy;
#[path = "expand/checks.rs"]
mod checks;
#[path = "expand/copy4.rs"]
mod copy4;
#[path = "expand/gelu.rs"]
mod gelu;
#[path = "expand/histogram.rs"]
mod histogram;
#[path = "expand/matmul.rs"]
mod matmul;
#[path = "expand/model.rs"]
mod model;
#[path = "expand/softmax.rs"]
mod softmax;

use vibee::__private::vibee_dsl::kernel::{ParamKind, pretty};
use vibee::{Buffer, Device, Grid, LaunchError};

fn assert_ir(name: &str, text: String) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../snapshots/ir");
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| insta::assert_snapshot!(name, text));
}

#[test]
fn ir_snapshots() {
    assert_ir("axpy", pretty::print(axpy::axpy::ir()));
    assert_ir("matmul", pretty::print(matmul::matmul::ir()));
    assert_ir("softmax", pretty::print(softmax::softmax::ir()));
    assert_ir("histogram", pretty::print(histogram::histogram::ir()));
    assert_ir("copy4", pretty::print(copy4::copy4::ir()));
    assert_ir("fill_rows", pretty::print(checks::fill_rows::ir()));
    assert_ir("gelu", pretty::print_elementwise(gelu::gelu::elementwise()));
    assert_ir("gelu_forward", pretty::print(gelu::gelu::ir()));
    assert_ir("gelu_backward", pretty::print(gelu::gelu::vjp::ir()));
}

#[test]
fn const_generics_are_the_first_comptime_parameters() {
    let params = &matmul::matmul::ir().params;
    assert_eq!(params[0].name, "TILE");
    assert!(matches!(
        params[0].kind,
        ParamKind::Comptime {
            const_generic: true,
            ..
        }
    ));
}

#[test]
fn comptime_checks_fail_before_launch() -> Result<(), LaunchError> {
    let device = Device::Cpu;
    let mut y = Buffer::<f32>::zeros(&device, 24)?;
    let grid = Grid::cover(24, 8);
    let not_power_of_two = checks::fill_rows::launch(&device, grid, &mut y, 12);
    let Err(LaunchError::BadArgument { param, problem, .. }) = not_power_of_two else {
        panic!("expected a failed check, got {not_power_of_two:?}");
    };
    assert_eq!(param, "d");
    assert!(problem.contains("power of two"), "{problem}");
    let too_small = checks::fill_rows::launch(&device, grid, &mut y, 2);
    assert!(
        matches!(&too_small, Err(LaunchError::BadArgument { problem, .. }) if problem.contains("d >= 4")),
        "{too_small:?}"
    );
    Ok(())
}

#[test]
fn a_passing_check_reaches_the_backend() -> Result<(), LaunchError> {
    let device = Device::Cpu;
    let mut y = Buffer::<f32>::zeros(&device, 24)?;
    checks::fill_rows::launch(&device, Grid::cover(24, 8), &mut y, 8)?;
    let rows: Vec<f32> = y.to_vec()?;
    assert_eq!(rows[7], 0.0);
    assert_eq!(rows[8], 1.0);
    assert_eq!(rows[23], 2.0);
    Ok(())
}

#[test]
fn the_example_model_builds_from_its_config() -> Result<(), vibee::runtime::nn::ConfigError> {
    use vibee::runtime::nn::{Model, Module};
    let m = model::ResidualStack::init(&model::ResidualStackConfig::new(4), 0)?;
    let names: Vec<&str> = m.parameters().iter().map(|p| p.name.as_str()).collect();
    let expected = [
        "layers.0.weight",
        "layers.0.bias",
        "layers.1.weight",
        "layers.1.bias",
        "norm.weight",
        "norm.bias",
        "gain",
    ];
    assert_eq!(names, expected);
    Ok(())
}
