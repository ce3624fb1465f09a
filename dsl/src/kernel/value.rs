//! Host-side values: scalars passed to kernels and typed buffers of elements.

use half::{bf16, f16};
use serde::{Deserialize, Serialize};

use super::ir::Elem;

/// One scalar value of any element type.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Scalar {
    F32(f32),
    F16(f16),
    BF16(bf16),
    I32(i32),
    U32(u32),
    Bool(bool),
}

impl Scalar {
    pub fn elem(self) -> Elem {
        match self {
            Scalar::F32(_) => Elem::F32,
            Scalar::F16(_) => Elem::F16,
            Scalar::BF16(_) => Elem::BF16,
            Scalar::I32(_) => Elem::I32,
            Scalar::U32(_) => Elem::U32,
            Scalar::Bool(_) => Elem::Bool,
        }
    }

    /// The value as f64 (bool as 0/1).
    pub fn to_f64(self) -> f64 {
        match self {
            Scalar::F32(v) => v as f64,
            Scalar::F16(v) => v.to_f64(),
            Scalar::BF16(v) => v.to_f64(),
            Scalar::I32(v) => v as f64,
            Scalar::U32(v) => v as f64,
            Scalar::Bool(v) => v as u8 as f64,
        }
    }

    /// The value as i64 (floats truncated toward zero, saturating).
    pub fn to_i64(self) -> i64 {
        match self {
            Scalar::I32(v) => v as i64,
            Scalar::U32(v) => v as i64,
            Scalar::Bool(v) => v as i64,
            other => other.to_f64() as i64,
        }
    }

    pub fn to_bool(self) -> bool {
        match self {
            Scalar::Bool(b) => b,
            other => other.to_f64() != 0.0,
        }
    }

    /// Converts with Rust `as` semantics (float → int saturates, int → int wraps).
    pub fn cast(self, to: Elem) -> Scalar {
        let is_int = matches!(self, Scalar::I32(_) | Scalar::U32(_) | Scalar::Bool(_));
        match to {
            Elem::F32 => Scalar::F32(if is_int {
                self.to_i64() as f32
            } else {
                self.to_f64() as f32
            }),
            Elem::F16 => Scalar::F16(f16::from_f64(self.to_f64())),
            Elem::BF16 => Scalar::BF16(bf16::from_f64(self.to_f64())),
            Elem::I32 => Scalar::I32(if is_int {
                self.to_i64() as i32
            } else {
                self.to_f64() as i32
            }),
            Elem::U32 => Scalar::U32(if is_int {
                self.to_i64() as u32
            } else {
                self.to_f64() as u32
            }),
            Elem::Bool => Scalar::Bool(self.to_bool()),
        }
    }

    /// Zero of an element type.
    pub fn zero(elem: Elem) -> Scalar {
        Scalar::U32(0).cast(elem)
    }
}

/// A typed host buffer; what the interpreter reads and writes, and what the CPU backend
/// stores. Buffers of `bool` are not supported (use `u32`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum HostBuffer {
    F32(Vec<f32>),
    F16(Vec<f16>),
    BF16(Vec<bf16>),
    I32(Vec<i32>),
    U32(Vec<u32>),
}

impl HostBuffer {
    pub fn zeros(elem: Elem, len: usize) -> Option<HostBuffer> {
        Some(match elem {
            Elem::F32 => HostBuffer::F32(vec![0.0; len]),
            Elem::F16 => HostBuffer::F16(vec![f16::ZERO; len]),
            Elem::BF16 => HostBuffer::BF16(vec![bf16::ZERO; len]),
            Elem::I32 => HostBuffer::I32(vec![0; len]),
            Elem::U32 => HostBuffer::U32(vec![0; len]),
            Elem::Bool => return None,
        })
    }

    pub fn elem(&self) -> Elem {
        match self {
            HostBuffer::F32(_) => Elem::F32,
            HostBuffer::F16(_) => Elem::F16,
            HostBuffer::BF16(_) => Elem::BF16,
            HostBuffer::I32(_) => Elem::I32,
            HostBuffer::U32(_) => Elem::U32,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            HostBuffer::F32(v) => v.len(),
            HostBuffer::F16(v) => v.len(),
            HostBuffer::BF16(v) => v.len(),
            HostBuffer::I32(v) => v.len(),
            HostBuffer::U32(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element `i`, or `None` out of bounds.
    pub fn get(&self, i: usize) -> Option<Scalar> {
        Some(match self {
            HostBuffer::F32(v) => Scalar::F32(*v.get(i)?),
            HostBuffer::F16(v) => Scalar::F16(*v.get(i)?),
            HostBuffer::BF16(v) => Scalar::BF16(*v.get(i)?),
            HostBuffer::I32(v) => Scalar::I32(*v.get(i)?),
            HostBuffer::U32(v) => Scalar::U32(*v.get(i)?),
        })
    }

    /// Writes element `i` (converted to this buffer's type); returns false out of bounds.
    pub fn set(&mut self, i: usize, value: Scalar) -> bool {
        if i >= self.len() {
            return false;
        }
        match (self, value.cast(value.elem())) {
            (HostBuffer::F32(v), s) => v[i] = cast_f32(s),
            (HostBuffer::F16(v), s) => v[i] = f16::from_f64(s.to_f64()),
            (HostBuffer::BF16(v), s) => v[i] = bf16::from_f64(s.to_f64()),
            (HostBuffer::I32(v), s) => v[i] = s.to_i64() as i32,
            (HostBuffer::U32(v), s) => v[i] = s.to_i64() as u32,
        }
        true
    }

    /// Every element as f64, for comparisons in tests.
    pub fn to_f64_vec(&self) -> Vec<f64> {
        (0..self.len())
            .filter_map(|i| self.get(i).map(Scalar::to_f64))
            .collect()
    }

    /// The raw bytes, little endian, as a device would hold them.
    pub fn as_bytes(&self) -> &[u8] {
        fn bytes<T>(v: &[T]) -> &[u8] {
            // SAFETY: every element type here is plain old data without padding.
            unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
        }
        match self {
            HostBuffer::F32(v) => bytes(v),
            HostBuffer::F16(v) => bytes(v),
            HostBuffer::BF16(v) => bytes(v),
            HostBuffer::I32(v) => bytes(v),
            HostBuffer::U32(v) => bytes(v),
        }
    }

    /// Mutable raw pointer to the first element, for native code.
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        match self {
            HostBuffer::F32(v) => v.as_mut_ptr().cast(),
            HostBuffer::F16(v) => v.as_mut_ptr().cast(),
            HostBuffer::BF16(v) => v.as_mut_ptr().cast(),
            HostBuffer::I32(v) => v.as_mut_ptr().cast(),
            HostBuffer::U32(v) => v.as_mut_ptr().cast(),
        }
    }
}

fn cast_f32(s: Scalar) -> f32 {
    match s {
        Scalar::I32(v) => v as f32,
        Scalar::U32(v) => v as f32,
        other => other.to_f64() as f32,
    }
}

/// Element types a host buffer can hold, tying Rust types to [`Elem`].
pub trait Element: Copy + Send + Sync + 'static + std::fmt::Debug {
    const ELEM: Elem;
    fn wrap(data: Vec<Self>) -> HostBuffer;
    fn view(buffer: &HostBuffer) -> Option<&[Self]>;
    fn view_mut(buffer: &mut HostBuffer) -> Option<&mut [Self]>;
    fn scalar(self) -> Scalar;
}

macro_rules! element {
    ($t:ty, $variant:ident) => {
        impl Element for $t {
            const ELEM: Elem = Elem::$variant;
            fn wrap(data: Vec<Self>) -> HostBuffer {
                HostBuffer::$variant(data)
            }
            fn view(buffer: &HostBuffer) -> Option<&[Self]> {
                match buffer {
                    HostBuffer::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn view_mut(buffer: &mut HostBuffer) -> Option<&mut [Self]> {
                match buffer {
                    HostBuffer::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn scalar(self) -> Scalar {
                Scalar::$variant(self)
            }
        }
    };
}
element!(f32, F32);
element!(f16, F16);
element!(bf16, BF16);
element!(i32, I32);
element!(u32, U32);

/// Scalar argument types (buffers' element types plus `bool`).
pub trait ScalarArg: Copy {
    fn scalar(self) -> Scalar;
}
impl<T: Element> ScalarArg for T {
    fn scalar(self) -> Scalar {
        Element::scalar(self)
    }
}
impl ScalarArg for bool {
    fn scalar(self) -> Scalar {
        Scalar::Bool(self)
    }
}
impl ScalarArg for usize {
    fn scalar(self) -> Scalar {
        Scalar::U32(self as u32)
    }
}
