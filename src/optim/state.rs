//! What every fused optimizer keeps on its device, and its state-dict I/O.

use vibee_runtime::optim::{ParamInfo, ParamSet, StateDict};
use vibee_runtime::{Buffer, Device, Grid, LaunchError};

use super::{FusedError, check, grid};

/// What every fused optimizer keeps: its tensors, its device, one device buffer per tensor
/// for each named state slot (`exp_avg`, …), and the step count.
pub(super) struct DeviceState {
    pub(super) params: ParamSet,
    pub(super) device: Device,
    pub(super) slots: Vec<(&'static str, Vec<Buffer<f32>>)>,
    pub(super) step: u64,
}

impl DeviceState {
    /// Zeroed buffers for every slot named in `slots`.
    pub(super) fn new(
        device: &Device,
        params: ParamSet,
        slots: &[&'static str],
    ) -> Result<Self, FusedError> {
        let slots = slots
            .iter()
            .map(|&name| Ok((name, zeroed(device, &params)?)))
            .collect::<Result<_, LaunchError>>()?;
        Ok(Self {
            params,
            device: device.clone(),
            slots,
            step: 0,
        })
    }

    /// Checks the tensors of a step and counts it.
    pub(super) fn begin_step(
        &mut self,
        params: &[Buffer<f32>],
        grads: &[Buffer<f32>],
    ) -> Result<(), FusedError> {
        check(&self.params, &[("parameter", params), ("gradient", grads)])?;
        self.step += 1;
        Ok(())
    }

    /// The driver of a step that is one kernel launch per tensor: checks the tensors, counts
    /// the step, then calls `update` once per tensor with its buffers and its `N` slots (in
    /// the order the optimizer created them).
    pub(super) fn step_each<const N: usize>(
        &mut self,
        params: &mut [Buffer<f32>],
        grads: &[Buffer<f32>],
        mut update: impl FnMut(TensorStep<'_, N>) -> Result<(), LaunchError>,
    ) -> Result<(), FusedError> {
        self.begin_step(params, grads)?;
        for (i, (p, g)) in params.iter_mut().zip(grads).enumerate() {
            let mut slots = self.slots.iter_mut();
            let slots = std::array::from_fn(|_| {
                let (_, bufs) = slots
                    .next()
                    .expect("a fused optimizer asks for as many slots as it created");
                &mut bufs[i]
            });
            update(TensorStep {
                device: &self.device,
                grid: grid(&self.device, p.len()),
                info: self.params.get(i),
                step: self.step,
                p,
                g,
                slots,
            })?;
        }
        Ok(())
    }

    /// Every slot read back to the host, under the host optimizer `name`'s slot names.
    pub(super) fn state_dict(&self, name: &str) -> Result<StateDict, FusedError> {
        let mut sd = StateDict::new(name, self.step);
        for (slot, bufs) in &self.slots {
            put_slot(&mut sd, &self.params, slot, bufs)?;
        }
        Ok(sd)
    }

    /// Every slot and the step count from a state dict written by optimizer `name`.
    pub(super) fn load(&mut self, name: &str, sd: &StateDict) -> Result<(), FusedError> {
        sd.expect(name)?;
        for (slot, bufs) in &mut self.slots {
            *bufs = take_slot(&self.device, &self.params, sd, slot)?;
        }
        self.step = sd.step;
        Ok(())
    }
}

/// One parameter tensor of a step, as [`DeviceState::step_each`] hands it over.
pub(super) struct TensorStep<'a, const N: usize> {
    pub(super) device: &'a Device,
    /// Covers the tensor (see [`grid`]).
    pub(super) grid: Grid,
    pub(super) info: &'a ParamInfo,
    /// The step being taken, from 1.
    pub(super) step: u64,
    pub(super) p: &'a mut Buffer<f32>,
    pub(super) g: &'a Buffer<f32>,
    pub(super) slots: [&'a mut Buffer<f32>; N],
}

/// One zeroed device buffer per tensor of `params`.
pub(super) fn zeroed(device: &Device, params: &ParamSet) -> Result<Vec<Buffer<f32>>, LaunchError> {
    params
        .iter()
        .map(|info| Buffer::zeros(device, info.numel()))
        .collect()
}

/// Reads `bufs` back to the host and stores them in `sd` as slot `slot`.
pub(super) fn put_slot(
    sd: &mut StateDict,
    params: &ParamSet,
    slot: &str,
    bufs: &[Buffer<f32>],
) -> Result<(), FusedError> {
    let host = bufs
        .iter()
        .map(Buffer::to_vec)
        .collect::<Result<Vec<_>, _>>()?;
    let views: Vec<&[f32]> = host.iter().map(Vec::as_slice).collect();
    sd.put(params, slot, &views);
    Ok(())
}

/// Slot `slot` of `sd`, one device buffer per tensor of `params`.
pub(super) fn take_slot(
    device: &Device,
    params: &ParamSet,
    sd: &StateDict,
    slot: &str,
) -> Result<Vec<Buffer<f32>>, FusedError> {
    take_slot_sized(device, params, sd, slot, ParamInfo::numel)
}

/// Slot `slot` of `sd`, whose buffer for a tensor holds `len(tensor)` elements.
pub(super) fn take_slot_sized(
    device: &Device,
    params: &ParamSet,
    sd: &StateDict,
    slot: &str,
    len: impl Fn(&ParamInfo) -> usize,
) -> Result<Vec<Buffer<f32>>, FusedError> {
    params
        .iter()
        .map(|info| {
            let host = sd.take::<f32>(&info.name, slot, len(info))?;
            Ok(Buffer::from_slice(device, &host)?)
        })
        .collect()
}

impl std::fmt::Debug for DeviceState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let slots: Vec<&str> = self.slots.iter().map(|(name, _)| *name).collect();
        f.debug_struct("DeviceState")
            .field("device", &self.device)
            .field("tensors", &self.params.len())
            .field("slots", &slots)
            .field("step", &self.step)
            .finish()
    }
}
