//! Buffers in GPU memory, held as CubeCL handles.

use cubecl::prelude::{BufferArg, Client};
use cubecl::server::Handle;
use half::{bf16, f16};
use vibee_dsl::kernel::{Elem, HostBuffer};

use crate::{Device, LaunchError};

/// A typed buffer on a CubeCL device: the handle, the client that owns it and its length in
/// elements (the allocation may be padded).
pub struct CubeBuffer {
    client: Client,
    handle: Handle,
    len: usize,
    elem: Elem,
}

impl std::fmt::Debug for CubeBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CubeBuffer({:?} x {}, on {})",
            self.elem,
            self.len,
            self.client.name()
        )
    }
}

impl CubeBuffer {
    /// Uploads `host` to `device`.
    pub fn upload(device: &Device, host: &HostBuffer) -> Result<CubeBuffer, LaunchError> {
        let cube = super::cube_device(device)?;
        let bytes = host.as_bytes();
        // A zero-sized allocation is not a valid binding; an empty buffer keeps one word so
        // kernels can still bind it (its length stays 0, so every access is out of bounds).
        let handle = if bytes.is_empty() {
            cube.client.create_from_slice(&[0u8; 4])
        } else {
            cube.client.create_from_slice(bytes)
        };
        Ok(CubeBuffer {
            client: cube.client.clone(),
            handle,
            len: host.len(),
            elem: host.elem(),
        })
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer has no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Element type.
    pub fn elem(&self) -> Elem {
        self.elem
    }

    /// Copies the contents back to the host, waiting for the kernels that write it. A launch
    /// that failed on the device (a kernel that did not compile, a resource limit) surfaces
    /// here, since CubeCL reports errors on the first read of what the launch would write.
    pub fn read(&self) -> Result<HostBuffer, LaunchError> {
        let bytes = self.client.read_one(self.handle.clone()).map_err(|e| {
            LaunchError::Device(format!("reading a {:?} buffer back: {e}", self.elem))
        })?;
        decode(self.elem, &bytes, self.len)
    }

    /// This buffer as an argument of a launch on `client`.
    pub(crate) fn binding(&self, client: &Client) -> Result<BufferArg, LaunchError> {
        if client.service_id() != self.client.service_id() {
            return Err(LaunchError::Device(format!(
                "a buffer of {} was passed to a launch on {}",
                self.client.name(),
                client.name()
            )));
        }
        // SAFETY: `len` elements of `elem` are exactly what `upload` wrote into the handle,
        // and the generated kernel bounds-checks every access against this length.
        Ok(unsafe { BufferArg::from_raw_parts(self.handle.clone(), self.len) })
    }
}

/// Host elements from little-endian device bytes.
fn decode(elem: Elem, bytes: &[u8], len: usize) -> Result<HostBuffer, LaunchError> {
    let need = len * elem.size_bytes();
    let bytes = bytes.get(..need).ok_or_else(|| {
        LaunchError::Device(format!(
            "the device returned {} bytes for {len} elements of {elem:?}",
            bytes.len()
        ))
    })?;
    fn words<const N: usize, T>(bytes: &[u8], f: impl Fn([u8; N]) -> T) -> Vec<T> {
        bytes
            .chunks_exact(N)
            .map(|c| f(c.try_into().unwrap_or([0; N])))
            .collect()
    }
    Ok(match elem {
        Elem::F32 => HostBuffer::F32(words(bytes, f32::from_le_bytes)),
        Elem::F16 => HostBuffer::F16(words(bytes, f16::from_le_bytes)),
        Elem::BF16 => HostBuffer::BF16(words(bytes, bf16::from_le_bytes)),
        Elem::I32 => HostBuffer::I32(words(bytes, i32::from_le_bytes)),
        Elem::U32 => HostBuffer::U32(words(bytes, u32::from_le_bytes)),
        Elem::Bool => {
            return Err(LaunchError::Device(
                "buffers of bool are not supported".into(),
            ));
        }
    })
}
