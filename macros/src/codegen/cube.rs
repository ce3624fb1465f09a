//! The CubeCL kernel of a `#[vibee::kernel]`, generated from the validated kernel IR.
//!
//! This is the one place the macros spell CubeCL paths. [`generate`] returns the items the
//! kernel's module holds for the GPU backends:
//!
//! - `mod __cube`: a `#[cube(launch, create_dummy_kernel)]` function with the kernel's name,
//!   translated statement by statement from the IR (not from `syn`: the IR is typed and
//!   validated, so this translation never fails);
//! - `const CUBE`: the `vibee_runtime::cube::CubeLauncher` the runtime calls, written by the
//!   facade's `cube_launcher!` template from the argument kinds listed here.
//!
//! Choices that keep vibee's semantics on CubeCL (see `vibee_runtime::cube::ops`):
//! - every buffer and shared-memory access goes through a bounds-checked helper (CubeCL's
//!   checked mode clamps indices instead of reading zero and dropping writes);
//! - integer `/` and `%` go through helpers that yield zero for a zero divisor;
//! - a 4-lane vector access is four scalar accesses assembled into a `Vector<T, Const<4>>`:
//!   a buffer may be read both as scalars and as vectors, its length need not be a multiple
//!   of four, and a vector straddling the end keeps its in-bounds lanes;
//! - buffers that take part in an atomic add are declared `&[Atomic<T>]`, and all their
//!   loads and stores are atomic;
//! - plane reductions and plane builtins take a comptime `__planes` flag the launcher sets
//!   from the device's features; without planes every unit is a plane of one, as in the
//!   interpreter;
//! - `continue` (which CubeCL does not support) becomes a per-loop flag that skips the rest
//!   of the body, and an early `return` becomes `terminate!()`.

mod body;
mod expr;

use std::cell::Cell;

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};
use vibee_dsl::kernel::{
    BufRef, Elem, ExprKind, Kernel, ParamId, ParamKind, Stmt, StmtKind, VarId,
};

/// The items of a kernel module that run it on CubeCL; see the module docs.
pub fn generate(kernel: &Kernel) -> TokenStream {
    let cx = Cx::new(kernel);
    let name = format_ident!("{}", kernel.name);
    let params = cx.signature();
    let body = body::block_with_shared(&cx);
    let imports = cx.half_imports();
    let slots = cx.launcher_slots();
    quote! {
        #[doc(hidden)]
        #[allow(clippy::all, unused, non_snake_case)]
        pub mod __cube {
            use ::vibee::__private::cubecl;
            use ::vibee::__private::cubecl::prelude::*;
            use ::vibee::__private::vibee_runtime::cube::ops as __ops;
            #imports

            #[cube(launch, create_dummy_kernel)]
            pub fn #name(#(#params),*) #body
        }

        /// Launches this kernel through CubeCL (wgpu or CUDA devices).
        #[doc(hidden)]
        pub const CUBE: ::vibee::__private::vibee_runtime::cube::CubeLauncher =
            ::vibee::__private::cube_launcher! {
                kernel: __cube::#name,
                #slots
            };
    }
}

/// What the translation needs to know about the kernel as a whole.
pub(crate) struct Cx<'k> {
    pub kernel: &'k Kernel,
    /// Buffers that take part in an atomic add (declared with `Atomic<T>` elements).
    atomic: Vec<BufRef>,
    /// Whether the kernel uses plane operations (and so takes the `__planes` flag).
    pub planes: bool,
    /// Rust names of the locals, made unique.
    local_names: Vec<Ident>,
    /// Loops given a `continue` flag so far (each flag gets its own name).
    loops: Cell<u32>,
}

/// Names a local may not take: the hidden parameters of CubeCL's expansion and ours.
const RESERVED: &[&str] = &["scope", "cubecl", "self", "super", "crate"];

impl<'k> Cx<'k> {
    fn new(kernel: &'k Kernel) -> Self {
        let mut atomic = Vec::new();
        let mut planes = false;
        body::visit_exprs(&kernel.body, &mut |e| match &e.kind {
            ExprKind::AtomicAdd { buf, .. } if !atomic.contains(buf) => atomic.push(*buf),
            ExprKind::Plane(..) => planes = true,
            ExprKind::Builtin(b) => planes |= expr::is_plane_builtin(*b),
            _ => {}
        });
        Cx {
            kernel,
            atomic,
            planes,
            local_names: unique_local_names(kernel),
            loops: Cell::new(0),
        }
    }

    /// A fresh number for a loop's `continue` flag.
    pub fn next_loop_id(&self) -> u32 {
        let id = self.loops.get();
        self.loops.set(id + 1);
        id
    }

    pub fn is_atomic(&self, buf: BufRef) -> bool {
        self.atomic.contains(&buf)
    }

    pub fn local(&self, id: VarId) -> &Ident {
        &self.local_names[id.0 as usize]
    }

    pub fn param(&self, id: ParamId) -> Ident {
        format_ident!("{}", self.kernel.param(id).name)
    }

    /// Whether a parameter is a float comptime value (which travels as `f32` bits).
    pub fn is_float_comptime(&self, id: ParamId) -> bool {
        matches!(self.kernel.param(id).kind, ParamKind::Comptime { elem, .. } if elem.is_float())
    }

    /// The parameter list of the `#[cube]` function.
    fn signature(&self) -> Vec<TokenStream> {
        let mut params: Vec<TokenStream> = (0..self.kernel.params.len())
            .map(|i| self.param_decl(ParamId(i as u32)))
            .collect();
        if self.planes {
            params.push(quote!(#[comptime] __planes: bool));
        }
        params
    }

    fn param_decl(&self, id: ParamId) -> TokenStream {
        let name = self.param(id);
        match self.kernel.param(id).kind {
            ParamKind::Buffer { elem, mutable } => {
                let t = expr::elem_type(elem);
                if self.is_atomic(BufRef::Param(id)) {
                    quote!(#name: &[Atomic<#t>])
                } else if mutable {
                    quote!(#name: &mut [#t])
                } else {
                    quote!(#name: &[#t])
                }
            }
            ParamKind::Scalar(elem) => {
                let t = expr::elem_type(elem);
                quote!(#name: #t)
            }
            ParamKind::Comptime { elem, .. } if elem.is_float() => {
                let bits = bits_name(&name);
                quote!(#[comptime] #bits: u32)
            }
            ParamKind::Comptime { elem, .. } => {
                let t = expr::elem_type(elem);
                quote!(#[comptime] #name: #t)
            }
        }
    }

    /// `use` lines for the half-precision types the kernel mentions.
    fn half_imports(&self) -> TokenStream {
        let mut elems = Vec::new();
        for p in &self.kernel.params {
            match p.kind {
                ParamKind::Buffer { elem, .. }
                | ParamKind::Scalar(elem)
                | ParamKind::Comptime { elem, .. } => elems.push(elem),
            }
        }
        elems.extend(self.kernel.locals.iter().map(|l| l.ty.elem));
        elems.extend(self.kernel.shared.iter().map(|s| s.elem));
        body::visit_exprs(&self.kernel.body, &mut |e| elems.push(e.ty.elem));
        let mut out = TokenStream::new();
        if elems.contains(&Elem::F16) {
            out.extend(quote!(
                use ::vibee::__private::vibee_runtime::cube::f16;
            ));
        }
        if elems.contains(&Elem::BF16) {
            out.extend(quote!(
                use ::vibee::__private::vibee_runtime::cube::bf16;
            ));
        }
        out
    }

    /// The slots of the facade's `cube_launcher!`: how each argument is converted.
    fn launcher_slots(&self) -> TokenStream {
        let args = self.kernel.params.iter().enumerate().map(|(i, p)| {
            let index = proc_macro2::Literal::usize_unsuffixed(i);
            match p.kind {
                ParamKind::Buffer { .. } => quote!(buffer #index),
                ParamKind::Comptime { elem, .. } if elem.is_float() => quote!(float_bits #index),
                ParamKind::Scalar(_) | ParamKind::Comptime { .. } => quote!(value #index),
            }
        });
        let planes = self.planes.then(|| quote!(planes));
        let args = args.chain(planes);
        quote!(args: [#(#args),*],)
    }
}

/// The name of the `u32` bit pattern a float comptime parameter travels as.
pub(crate) fn bits_name(name: &Ident) -> Ident {
    format_ident!("{}_bits", name)
}

/// Rust names for the locals: the user's name where it is unique among locals and
/// parameters, otherwise suffixed with the local's index (the IR may hold several locals of
/// one name, from shadowing).
fn unique_local_names(kernel: &Kernel) -> Vec<Ident> {
    let taken = |name: &str, own: usize| {
        RESERVED.contains(&name)
            || name.starts_with("__")
            || kernel.params.iter().any(|p| p.name == name)
            || kernel.shared.iter().any(|s| s.name == name)
            || kernel
                .locals
                .iter()
                .enumerate()
                .any(|(i, l)| i != own && l.name == name)
    };
    kernel
        .locals
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if taken(&l.name, i) {
                format_ident!("{}_{}", l.name, i)
            } else {
                format_ident!("{}", l.name)
            }
        })
        .collect()
}

/// Whether any statement of `stmts` (outside nested loops) is a `continue`.
pub(crate) fn has_loop_continue(stmts: &[Stmt]) -> bool {
    stmts.iter().any(|s| match &s.kind {
        StmtKind::Continue => true,
        StmtKind::If {
            then_branch,
            else_branch,
            ..
        } => has_loop_continue(then_branch) || has_loop_continue(else_branch),
        _ => false,
    })
}

#[cfg(test)]
mod tests;
