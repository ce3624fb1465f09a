//! Buffers of elements that live on a device.

use std::marker::PhantomData;

use vibee_dsl::kernel::{Elem, Element, HostBuffer};

use crate::{Device, LaunchError};

/// Storage of a buffer, whatever its element type.
#[derive(Debug)]
pub enum RawBuffer {
    Host(HostBuffer),
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    Cube(crate::cube::CubeBuffer),
}

impl RawBuffer {
    pub fn len(&self) -> usize {
        match self {
            RawBuffer::Host(h) => h.len(),
            #[cfg(any(feature = "wgpu", feature = "cuda"))]
            RawBuffer::Cube(c) => c.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn elem(&self) -> Elem {
        match self {
            RawBuffer::Host(h) => h.elem(),
            #[cfg(any(feature = "wgpu", feature = "cuda"))]
            RawBuffer::Cube(c) => c.elem(),
        }
    }
    /// Copies the contents back to the host.
    pub fn read(&self) -> Result<HostBuffer, LaunchError> {
        match self {
            RawBuffer::Host(h) => Ok(h.clone()),
            #[cfg(any(feature = "wgpu", feature = "cuda"))]
            RawBuffer::Cube(c) => c.read(),
        }
    }
}

/// A typed buffer of `T` on a [`Device`].
///
/// ```
/// use vibee_runtime::{Buffer, Device};
/// let x = Buffer::from_slice(&Device::Cpu, &[1.0f32, 2.0, 3.0]).unwrap();
/// assert_eq!(x.to_vec().unwrap(), vec![1.0, 2.0, 3.0]);
/// ```
#[derive(Debug)]
pub struct Buffer<T: Element> {
    raw: RawBuffer,
    _elem: PhantomData<T>,
}

impl<T: Element> Buffer<T> {
    /// Uploads `data` to `device`.
    pub fn from_slice(device: &Device, data: &[T]) -> Result<Self, LaunchError> {
        Self::from_host(device, T::wrap(data.to_vec()))
    }

    /// A buffer of `len` zeros.
    pub fn zeros(device: &Device, len: usize) -> Result<Self, LaunchError> {
        let host = HostBuffer::zeros(T::ELEM, len)
            .ok_or_else(|| LaunchError::Device(format!("no buffers of {:?}", T::ELEM)))?;
        Self::from_host(device, host)
    }

    fn from_host(device: &Device, host: HostBuffer) -> Result<Self, LaunchError> {
        let raw = match device {
            Device::Cpu => RawBuffer::Host(host),
            #[cfg(any(feature = "wgpu", feature = "cuda"))]
            other => RawBuffer::Cube(crate::cube::CubeBuffer::upload(other, &host)?),
        };
        Ok(Buffer {
            raw,
            _elem: PhantomData,
        })
    }

    pub fn len(&self) -> usize {
        self.raw.len()
    }

    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Copies the contents back to the host.
    pub fn to_vec(&self) -> Result<Vec<T>, LaunchError> {
        let host = self.raw.read()?;
        T::view(&host)
            .map(<[T]>::to_vec)
            .ok_or_else(|| LaunchError::Device(format!("buffer does not hold {:?}", T::ELEM)))
    }

    pub fn raw(&self) -> &RawBuffer {
        &self.raw
    }

    pub fn raw_mut(&mut self) -> &mut RawBuffer {
        &mut self.raw
    }
}
