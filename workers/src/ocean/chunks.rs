//! Reading a netCDF-4 variable's compressed chunks ourselves, in parallel.
//!
//! The `netcdf` crate serialises every call into libnetcdf/libhdf5 behind one process-wide lock
//! (the serial libhdf5 is not thread-safe), so with `nc_get_vara` the zlib inflate of different
//! files never overlaps, and libhdf5's zlib is slow besides. Here the lock is held only to ask
//! libhdf5 where each needed chunk lies in the file (offset, size, filter pipeline, element
//! type); the bytes are then read with `pread`, inflated with libdeflate, un-shuffled (while
//! decoding) and decoded in the calling thread, so files on different threads proceed at the same time.
//!
//! Only what is common and simple is taken this way: chunked layout, the deflate and shuffle
//! filters, integer (8/16/32-bit) and float (32/64-bit) elements, every needed chunk allocated.
//! Anything else (netCDF-3, contiguous or compact layout, szip/zstd/fletcher32, unwritten chunks
//! holding fill values) is a [`Plan::Fallback`] naming the reason, and the caller reads through
//! libnetcdf as before and tells the user ([`super::fallback`]). Both paths give the same raw
//! values, hence the same decoded numbers (unit test below, and the xarray comparisons in
//! tests/api/ocean.rs).
//!
//! Nothing the file declares is trusted: the chunk shape is multiplied out with overflow checks
//! and, times the chunks one step needs, held against the thread's share of the memory budget;
//! each chunk must lie inside the file and be no larger than its values (plus deflate's worst
//! case); inflating stops at the chunk's size. A file that lies ends the job in ERROR.

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::os::unix::fs::FileExt;
use std::path::Path;

use hdf5_metno_sys::{h5, h5d, h5f, h5i::hid_t, h5p, h5s, h5t};

use super::cf::{Decoder, FileInfo, quiet_hdf5};
use super::memory::Budget;
use super::select::Selection;

/// Element type of the stored values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Raw {
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    F32,
    F64,
}

impl Raw {
    pub fn size(self) -> usize {
        match self {
            Raw::I8 | Raw::U8 => 1,
            Raw::I16 | Raw::U16 => 2,
            Raw::I32 | Raw::U32 | Raw::F32 => 4,
            Raw::F64 => 8,
        }
    }
}

/// A filter of the chunk pipeline, in the order libhdf5 applied them when writing.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Filter {
    Deflate,
    /// Byte shuffle with this element size.
    Shuffle(usize),
}

#[derive(Debug, Clone, Copy)]
struct Location {
    addr: u64,
    size: u64,
    /// Bit i set: filter i was skipped for this chunk.
    skipped: u32,
}

/// Where one variable's needed chunks are, and the means to turn them into values.
pub struct Direct {
    file: std::fs::File,
    raw: Raw,
    big_endian: bool,
    /// Chunk shape, one entry per dimension of the variable.
    chunk: Vec<usize>,
    /// Bytes of one chunk's values (shape × element size, checked when planned).
    chunk_bytes: usize,
    filters: Vec<Filter>,
    /// By chunk origin (element coordinates).
    chunks: HashMap<Vec<u64>, Location>,
    /// Tells this reader's chunks apart in [`Buffers`]' cache.
    id: u64,
}

/// A thread's working memory for [`Direct`] readers, kept from file to file (fresh
/// half-megabyte buffers per chunk cost page faults that showed in profiles).
#[derive(Default)]
pub struct Buffers {
    pub table: Table,
    /// The unfiltered chunks of the current time-chunk row of one reader (chunks hold several
    /// time steps when time is chunked by more than 1; each is inflated once).
    cache: HashMap<Vec<u64>, ChunkData>,
    /// (reader id, first step of the row) of what `cache` holds.
    cache_key: Option<(u64, u64)>,
    /// Chunk-sized buffers not in use.
    spare: Vec<Vec<u8>>,
    /// Compressed bytes as read.
    packed: Vec<u8>,
    inflater: Option<libdeflater::Decompressor>,
}

static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Closes an HDF5 identifier when dropped.
struct Id(hid_t, unsafe extern "C" fn(hid_t) -> h5::herr_t);

impl Drop for Id {
    fn drop(&mut self) {
        if self.0 >= 0 {
            // SAFETY: the identifier was returned by the matching open call and is closed once.
            unsafe { (self.1)(self.0) };
        }
    }
}

fn id(value: hid_t, close: unsafe extern "C" fn(hid_t) -> h5::herr_t) -> Option<Id> {
    (value >= 0).then_some(Id(value, close))
}

/// How to read a file's variable: straight from its chunks, or through libnetcdf and why.
pub enum Plan {
    Direct(Direct),
    /// The layout, filter or type this reader does not handle (said to the user).
    Fallback(String),
}

/// Why [`locate`] gave up: a layout to leave to libnetcdf, or a file that lies about its sizes.
enum Refusal {
    Fallback(String),
    Lie(String),
}

/// What [`locate`] learnt from libhdf5.
struct Located {
    raw: Raw,
    big_endian: bool,
    chunk: Vec<usize>,
    chunk_bytes: usize,
    filters: Vec<Filter>,
    chunks: HashMap<Vec<u64>, Location>,
}

impl Direct {
    /// Locates every chunk that steps `steps` of the selection touch, after checking every size
    /// the file declares: the chunk shape (overflow-safe, against this thread's share of
    /// `budget`), each chunk's extent against the file's real length, its stored size against
    /// what its values can take. A variable stored in a way this reader does not handle is a
    /// [`Plan::Fallback`] saying why.
    ///
    /// # Errors
    /// A file whose declared sizes lie or exceed the budget, with the file's name.
    pub fn plan(info: &FileInfo, sel: &Selection, steps: &[usize], budget: &Budget) -> Result<Plan, String> {
        let (Ok(path), Ok(name)) =
            (CString::new(info.path.as_os_str().as_encoded_bytes()), CString::new(format!("/{}", info.variable)))
        else {
            return Ok(Plan::Fallback("its path or name holds a NUL byte".into()));
        };
        let file = std::fs::File::open(&info.path).map_err(|e| format!("{}: {e}", info.name))?;
        let file_len = file.metadata().map_err(|e| format!("{}: {e}", info.name))?.len();
        let located = {
            let _lock = hdf5_metno_sys::LOCK.lock();
            quiet_hdf5();
            // SAFETY: plain libhdf5 calls under the library lock (see `locate`).
            unsafe { locate(&path, &name, info, sel, steps, budget, file_len) }
        };
        let l = match located {
            Ok(l) => l,
            Err(Refusal::Fallback(why)) => return Ok(Plan::Fallback(why)),
            Err(Refusal::Lie(lie)) => return Err(format!("{}: variable '{}' {lie}", info.name, info.variable)),
        };
        Ok(Plan::Direct(Direct {
            file,
            raw: l.raw,
            big_endian: l.big_endian,
            chunk: l.chunk,
            chunk_bytes: l.chunk_bytes,
            filters: l.filters,
            chunks: l.chunks,
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }))
    }

    /// Reads step `index` into `out` like [`super::read::read_step`]: output order, decoded,
    /// NaN for missing values and pixels outside the box.
    pub fn read_step(
        &self,
        info: &FileInfo,
        index: usize,
        sel: &Selection,
        buffers: &mut Buffers,
        out: &mut Vec<f64>,
    ) -> Result<(), String> {
        buffers.table.prepare(self.raw, &info.decoder);
        // Every pixel of the selection is written below (the blocks tile it), so the buffer of
        // the previous step needs no clearing.
        out.resize(sel.len(), f64::NAN);
        let rank = self.chunk.len();
        let (ct, cy, cx) = (self.chunk[0], self.chunk[rank - 2], self.chunk[rank - 1]);
        let t0 = (index - index % ct) as u64;
        if buffers.cache_key != Some((self.id, t0)) {
            buffers.spare.extend(buffers.cache.drain().map(|(_, c)| c.bytes));
            buffers.cache_key = Some((self.id, t0));
        }
        let (raw, big_endian, elem) = (self.raw, self.big_endian, self.raw.size());
        for (b, block) in sel.blocks.iter().enumerate() {
            if block.is_empty() {
                continue;
            }
            for yc in block.y.start / cy..=(block.y.end - 1) / cy {
                for xc in block.x.start / cx..=(block.x.end - 1) / cx {
                    let origin = origin(rank, t0, yc * cy, xc * cx);
                    self.load(&origin, buffers).map_err(|e| format!("{}: {e}", info.name))?;
                    let chunk = &buffers.cache[&origin];
                    let ys = block.y.start.max(yc * cy)..block.y.end.min((yc + 1) * cy);
                    let xs = block.x.start.max(xc * cx)..block.x.end.min((xc + 1) * cx);
                    for y in ys {
                        let start = ((index as u64 - t0) as usize * cy + (y - yc * cy)) * cx + (xs.start - xc * cx);
                        let src = Elements { chunk, start, len: xs.len(), size: elem };
                        let at = sel.out_index(b, y - block.y.start, xs.start - block.x.start);
                        let inside = &sel.inside[at..at + xs.len()];
                        buffers.table.decode_row(raw, big_endian, &src, inside, &mut out[at..at + xs.len()]);
                    }
                    // A chunk of one step is done with: its buffer serves the next chunk, so a
                    // thread holds one chunk, not every chunk of a tall or wide box.
                    if ct == 1
                        && let Some(done) = buffers.cache.remove(&origin)
                    {
                        buffers.spare.push(done.bytes);
                    }
                }
            }
        }
        Ok(())
    }

    /// Puts the unfiltered chunk at `origin` into the cache of `buffers`, unless it is there.
    fn load(&self, origin: &[u64], buffers: &mut Buffers) -> Result<(), String> {
        if buffers.cache.contains_key(origin) {
            return Ok(());
        }
        let loc = *self.chunks.get(origin).ok_or("chunk outside the planned steps")?;
        let packed = &mut buffers.packed;
        // Bounded when planned: by the file's length and by what the chunk's values can take.
        packed.resize(loc.size as usize, 0);
        self.file.read_exact_at(packed, loc.addr).map_err(|e| format!("reading a chunk: {e}"))?;
        let expected = self.chunk_bytes;
        // `data` is None while the bytes are still those in `packed`.
        let mut data: Option<Vec<u8>> = None;
        let mut planar = false;
        for (i, filter) in self.filters.iter().enumerate().rev() {
            if loc.skipped & (1 << i) != 0 {
                continue;
            }
            let input: &[u8] = data.as_deref().unwrap_or(&buffers.packed);
            let next = match *filter {
                Filter::Deflate => {
                    let mut next = buffers.spare.pop().unwrap_or_default();
                    next.resize(expected, 0);
                    let inflater = buffers.inflater.get_or_insert_with(libdeflater::Decompressor::new);
                    let n = inflater.zlib_decompress(input, &mut next).map_err(|e| match e {
                        libdeflater::DecompressionError::InsufficientSpace => {
                            format!("a chunk inflates to more than {expected} bytes (its shape × element size)")
                        }
                        libdeflater::DecompressionError::BadData => "a chunk is not valid zlib data".to_string(),
                    })?;
                    if n != expected {
                        return Err(format!("a chunk inflated to {n} bytes, expected {expected}"));
                    }
                    next
                }
                // The usual last step (shuffle is applied first when writing): leave the bytes
                // in planes and let the decoder gather them, instead of copying them.
                Filter::Shuffle(size) if i == 0 && size == self.raw.size() => {
                    planar = true;
                    continue;
                }
                Filter::Shuffle(size) => {
                    let mut next = buffers.spare.pop().unwrap_or_default();
                    unshuffle(input, size, &mut next);
                    next
                }
            };
            if let Some(old) = data.replace(next) {
                buffers.spare.push(old);
            }
        }
        let bytes = data.unwrap_or_else(|| buffers.packed.clone());
        if bytes.len() != expected {
            return Err(format!("a chunk holds {} bytes, expected {expected}", bytes.len()));
        }
        buffers.cache.insert(origin.to_vec(), ChunkData { bytes, planar });
        Ok(())
    }
}

/// A chunk's bytes after the filters, either element after element or, when only the shuffle
/// filter is left to undo, as `size` planes (byte k of every element in plane k).
struct ChunkData {
    bytes: Vec<u8>,
    planar: bool,
}

/// `len` consecutive elements of a chunk from element `start`.
pub struct Elements<'a> {
    chunk: &'a ChunkData,
    start: usize,
    len: usize,
    size: usize,
}

impl Elements<'_> {
    /// Writes `f(bytes of element i)` into `out[i]`.
    #[inline]
    fn each<const N: usize>(&self, out: &mut [f64], f: impl Fn([u8; N]) -> f64) {
        debug_assert_eq!(N, self.size);
        let bytes = &self.chunk.bytes;
        let out = &mut out[..self.len];
        if self.chunk.planar {
            let plane = bytes.len() / N;
            let planes: [&[u8]; N] = std::array::from_fn(|k| &bytes[k * plane + self.start..][..self.len]);
            for (i, slot) in out.iter_mut().enumerate() {
                *slot = f(std::array::from_fn(|k| planes[k][i]));
            }
        } else {
            let elements = bytes[self.start * N..(self.start + self.len) * N].chunks_exact(N);
            for (slot, e) in out.iter_mut().zip(elements) {
                *slot = f(e.try_into().expect("N bytes"));
            }
        }
    }
}

/// Origin of the chunk holding (t0, 0…, y, x) for a variable of `rank` dimensions.
fn origin(rank: usize, t0: u64, y: usize, x: usize) -> Vec<u64> {
    let mut o = vec![0u64; rank];
    o[0] = t0;
    o[rank - 2] = y as u64;
    o[rank - 1] = x as u64;
    o
}

/// The origins of every chunk the selection touches at the given steps.
fn origins(chunk: &[usize], sel: &Selection, steps: &[usize], rank: usize) -> Vec<Vec<u64>> {
    let (ct, cy, cx) = (chunk[0], chunk[rank - 2], chunk[rank - 1]);
    let mut out: Vec<Vec<u64>> = Vec::new();
    for &t in steps {
        for block in sel.blocks.iter().filter(|b| !b.is_empty()) {
            for yc in block.y.start / cy..=(block.y.end - 1) / cy {
                for xc in block.x.start / cx..=(block.x.end - 1) / cx {
                    out.push(origin(rank, (t - t % ct) as u64, yc * cy, xc * cx));
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Asks libhdf5 where the chunks are and checks every size it reports (see [`Direct::plan`]).
///
/// # Safety
/// Call under `hdf5_metno_sys::LOCK`; every identifier is closed by its `Id` guard and every
/// buffer is sized for the rank checked first.
unsafe fn locate(
    path: &CStr,
    name: &CStr,
    info: &FileInfo,
    sel: &Selection,
    steps: &[usize],
    budget: &Budget,
    file_len: u64,
) -> Result<Located, Refusal> {
    let fallback = |why: &str| Refusal::Fallback(why.to_string());
    let rank = info.shape.len();
    // SAFETY: see the function's contract.
    unsafe {
        if h5::H5open() < 0 {
            return Err(fallback("libhdf5 did not start"));
        }
        if h5f::H5Fis_hdf5(path.as_ptr()) <= 0 {
            return Err(fallback("a netCDF-3 file (not HDF5, so not chunked)"));
        }
        let file = id(h5f::H5Fopen(path.as_ptr(), h5f::H5F_ACC_RDONLY, h5p::H5P_DEFAULT), h5f::H5Fclose)
            .ok_or_else(|| fallback("libhdf5 could not open the file"))?;
        let dset = id(h5d::H5Dopen2(file.0, name.as_ptr(), h5p::H5P_DEFAULT), h5d::H5Dclose)
            .ok_or_else(|| fallback("libhdf5 could not open the variable"))?;
        let space = id(h5d::H5Dget_space(dset.0), h5s::H5Sclose).ok_or_else(|| fallback("no dataspace"))?;
        let mut dims = vec![0u64; rank];
        if h5s::H5Sget_simple_extent_ndims(space.0) != rank as i32
            || h5s::H5Sget_simple_extent_dims(space.0, dims.as_mut_ptr(), std::ptr::null_mut()) < 0
            || dims.iter().zip(&info.shape).any(|(&a, &b)| a != b as u64)
        {
            return Err(fallback("libhdf5 reports other dimensions than libnetcdf"));
        }
        let dcpl = id(h5d::H5Dget_create_plist(dset.0), h5p::H5Pclose).ok_or_else(|| fallback("no layout"))?;
        match h5p::H5Pget_layout(dcpl.0) {
            h5d::H5D_layout_t::H5D_CHUNKED => {}
            h5d::H5D_layout_t::H5D_CONTIGUOUS => return Err(fallback("contiguous layout (not chunked)")),
            h5d::H5D_layout_t::H5D_COMPACT => return Err(fallback("compact layout (not chunked)")),
            _ => return Err(fallback("a layout other than chunked")),
        }
        let mut chunk = vec![0u64; rank];
        if h5p::H5Pget_chunk(dcpl.0, rank as i32, chunk.as_mut_ptr()) != rank as i32 {
            return Err(fallback("libhdf5 reports no chunk shape"));
        }
        let dtype = id(h5d::H5Dget_type(dset.0), h5t::H5Tclose).ok_or_else(|| fallback("no element type"))?;
        let elem = h5t::H5Tget_size(dtype.0);
        // The sizes first: libnetcdf, too, would inflate whole chunks of this shape.
        let chunk: Vec<usize> = chunk.iter().map(|&c| usize::try_from(c).unwrap_or(usize::MAX)).collect();
        let chunk_bytes = chunk_bytes(&chunk, elem).map_err(Refusal::Lie)?;
        let share = budget.per_thread();
        let what = || format!("reading one step through its chunks of {chunk:?} × {elem} bytes");
        share.check(what, step_bytes(&chunk, elem, sel.rows, sel.cols)).map_err(Refusal::Lie)?;
        let filters = filters(dcpl.0).map_err(Refusal::Fallback)?;
        let (raw, big_endian) = raw_type(dtype.0)
            .ok_or_else(|| fallback("an element type other than 8/16/32-bit integers and 32/64-bit floats"))?;
        let stored_max = stored_bound(chunk_bytes, &filters);
        let mut chunks = HashMap::new();
        for origin in origins(&chunk, sel, steps, rank) {
            let (mut skipped, mut addr, mut size) = (0u32, 0u64, 0u64);
            if h5d::H5Dget_chunk_info_by_coord(dset.0, origin.as_ptr(), &mut skipped, &mut addr, &mut size) < 0 {
                return Err(fallback("libhdf5 could not locate a chunk"));
            }
            if addr == h5::HADDR_UNDEF {
                return Err(fallback("chunks never written (they hold the fill value)"));
            }
            if addr.checked_add(size).is_none_or(|end| end > file_len) {
                return Err(Refusal::Lie(format!(
                    "declares a chunk of {size} bytes at offset {addr}, past the end of the file ({file_len} bytes)"
                )));
            }
            if size > stored_max as u64 {
                return Err(Refusal::Lie(format!(
                    "declares a chunk of {size} bytes stored for {chunk_bytes} bytes of values"
                )));
            }
            chunks.insert(origin, Location { addr, size, skipped });
        }
        Ok(Located { raw, big_endian, chunk, chunk_bytes, filters, chunks })
    }
}

/// Bytes of one chunk's values, refusing a zero dimension and any overflow.
fn chunk_bytes(chunk: &[usize], elem: usize) -> Result<usize, String> {
    if chunk.contains(&0) {
        return Err(format!("declares chunks of {chunk:?} values, with a zero dimension"));
    }
    chunk
        .iter()
        .try_fold(elem, |n, &c| n.checked_mul(c))
        .ok_or_else(|| format!("declares chunks of {chunk:?} values of {elem} bytes, more than memory can address"))
}

/// The most bytes a stored chunk can take: its values, plus deflate's worst case (stored blocks
/// add 5 bytes per 64 KiB, zlib 6 more) with a generous margin.
fn stored_bound(chunk_bytes: usize, filters: &[Filter]) -> usize {
    if filters.contains(&Filter::Deflate) {
        chunk_bytes.saturating_add(chunk_bytes / 16).saturating_add(1024)
    } else {
        chunk_bytes
    }
}

/// Bytes of chunks one thread holds to read one step of a `rows` × `cols` box, plus the
/// compressed bytes and a spare buffer: one chunk when a chunk holds one step, else every chunk
/// of the box (kept for the next steps; at most one more at each edge, and one more column
/// where a box wraps around the grid's longitude seam). Saturates.
pub fn step_bytes(chunk: &[usize], elem: usize, rows: usize, cols: usize) -> u64 {
    let rank = chunk.len();
    let (cy, cx) = (chunk[rank - 2].max(1) as u64, chunk[rank - 1].max(1) as u64);
    let touched = match chunk[0] {
        1 => 1,
        _ => ((rows as u64).div_ceil(cy) + 1).saturating_mul((cols as u64).div_ceil(cx) + 2),
    };
    let bytes = chunk.iter().fold(elem as u64, |n, &c| n.saturating_mul(c as u64));
    touched.saturating_add(2).saturating_mul(bytes)
}

/// The chunk shape and element size of a chunked netCDF-4 variable (None for any other
/// layout), for memory estimates at job creation.
pub fn chunk_layout(path: &Path, variable: &str, rank: usize) -> Option<(Vec<usize>, usize)> {
    let path = CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
    let name = CString::new(format!("/{variable}")).ok()?;
    let _lock = hdf5_metno_sys::LOCK.lock();
    quiet_hdf5();
    // SAFETY: plain libhdf5 calls under the library lock; identifiers closed by their guards,
    // the chunk buffer sized for `rank`.
    unsafe {
        if h5::H5open() < 0 || h5f::H5Fis_hdf5(path.as_ptr()) <= 0 {
            return None;
        }
        let file = id(h5f::H5Fopen(path.as_ptr(), h5f::H5F_ACC_RDONLY, h5p::H5P_DEFAULT), h5f::H5Fclose)?;
        let dset = id(h5d::H5Dopen2(file.0, name.as_ptr(), h5p::H5P_DEFAULT), h5d::H5Dclose)?;
        let dcpl = id(h5d::H5Dget_create_plist(dset.0), h5p::H5Pclose)?;
        let mut chunk = vec![0u64; rank];
        if h5p::H5Pget_layout(dcpl.0) != h5d::H5D_layout_t::H5D_CHUNKED
            || h5p::H5Pget_chunk(dcpl.0, rank as i32, chunk.as_mut_ptr()) != rank as i32
        {
            return None;
        }
        let dtype = id(h5d::H5Dget_type(dset.0), h5t::H5Tclose)?;
        Some((chunk.iter().map(|&c| usize::try_from(c).unwrap_or(usize::MAX)).collect(), h5t::H5Tget_size(dtype.0)))
    }
}

/// The filter pipeline, or why it holds a filter this reader does not implement.
unsafe fn filters(dcpl: hid_t) -> Result<Vec<Filter>, String> {
    // SAFETY (whole function): called under the library lock with a valid property list; the
    // parameter buffer is sized by `n`, which libhdf5 updates to the number it filled.
    unsafe {
        let count = h5p::H5Pget_nfilters(dcpl);
        if count < 0 {
            return Err("libhdf5 could not list the filters".into());
        }
        let mut out = Vec::new();
        for i in 0..count as u32 {
            let (mut flags, mut n, mut params, mut config) = (0u32, 8usize, [0u32; 8], 0u32);
            let filter = h5p::H5Pget_filter2(
                dcpl,
                i,
                &mut flags,
                &mut n,
                params.as_mut_ptr(),
                0,
                std::ptr::null_mut(),
                &mut config,
            );
            out.push(match filter {
                1 => Filter::Deflate,
                2 if n >= 1 && params[0] > 0 => Filter::Shuffle(params[0] as usize),
                other => {
                    let name = match other {
                        3 => "fletcher32 checksums".to_string(),
                        4 => "szip compression".to_string(),
                        5 => "n-bit packing".to_string(),
                        6 => "scale-offset packing".to_string(),
                        32015 => "zstd compression".to_string(),
                        32001 => "blosc compression".to_string(),
                        32004 => "lz4 compression".to_string(),
                        32008 => "bitshuffle".to_string(),
                        id => format!("HDF5 filter {id}"),
                    };
                    return Err(format!("{name} (only deflate and shuffle are inflated directly)"));
                }
            });
        }
        Ok(out)
    }
}

/// The element type, if it is one this reader decodes.
unsafe fn raw_type(dtype: hid_t) -> Option<(Raw, bool)> {
    // SAFETY: called under the library lock with a valid datatype identifier.
    unsafe {
        let size = h5t::H5Tget_size(dtype);
        let big_endian = match h5t::H5Tget_order(dtype) {
            h5t::H5T_order_t::H5T_ORDER_LE => false,
            h5t::H5T_order_t::H5T_ORDER_BE => true,
            _ => return None,
        };
        let raw = match h5t::H5Tget_class(dtype) {
            h5t::H5T_class_t::H5T_INTEGER => {
                let signed = h5t::H5Tget_sign(dtype) == h5t::H5T_sign_t::H5T_SGN_2;
                match (size, signed) {
                    (1, true) => Raw::I8,
                    (1, false) => Raw::U8,
                    (2, true) => Raw::I16,
                    (2, false) => Raw::U16,
                    (4, true) => Raw::I32,
                    (4, false) => Raw::U32,
                    _ => return None,
                }
            }
            h5t::H5T_class_t::H5T_FLOAT => match size {
                4 => Raw::F32,
                8 => Raw::F64,
                _ => return None,
            },
            _ => return None,
        };
        Some((raw, big_endian))
    }
}

/// Undoes libhdf5's byte shuffle: byte k of every element was stored in plane k.
fn unshuffle(data: &[u8], size: usize, out: &mut Vec<u8>) {
    out.clear();
    out.resize(data.len(), 0);
    let n = data.len() / size;
    for k in 0..size {
        let plane = &data[k * n..(k + 1) * n];
        for (i, &byte) in plane.iter().enumerate() {
            out[i * size + k] = byte;
        }
    }
    // Bytes past the last whole element are stored as they were.
    out[n * size..].copy_from_slice(&data[n * size..]);
}

/// Raw-to-physical decoding, with a look-up table for 8- and 16-bit integers (every possible
/// value decoded once through [`Decoder::decode`], so the results are the same bits).
#[derive(Default)]
pub struct Table {
    key: Option<(Raw, Decoder)>,
    values: Vec<f64>,
}

impl Table {
    /// Builds the table for this type and decoder unless it is already the current one.
    pub fn prepare(&mut self, raw: Raw, decoder: &Decoder) {
        if self.key.as_ref().is_some_and(|(r, d)| *r == raw && d == decoder) {
            return;
        }
        self.values = match raw {
            Raw::I8 => (0..=255u8).map(|b| decoder.decode(b as i8 as f64)).collect(),
            Raw::U8 => (0..=255u8).map(|b| decoder.decode(b as f64)).collect(),
            Raw::I16 => (0..=65535u16).map(|v| decoder.decode(v as i16 as f64)).collect(),
            Raw::U16 => (0..=65535u16).map(|v| decoder.decode(v as f64)).collect(),
            _ => Vec::new(),
        };
        self.key = Some((raw, decoder.clone()));
    }

    fn decoder(&self) -> &Decoder {
        &self.key.as_ref().expect("Table::prepare first").1
    }

    /// Decodes the elements `src` into `out`, NaN where `inside` is false.
    pub fn decode_row(&self, raw: Raw, big_endian: bool, src: &Elements, inside: &[bool], out: &mut [f64]) {
        let table = &self.values;
        let d = self.decoder();
        match (raw, big_endian) {
            (Raw::I8 | Raw::U8, _) => src.each(out, |b: [u8; 1]| table[b[0] as usize]),
            (Raw::I16 | Raw::U16, false) => src.each(out, |b| table[u16::from_le_bytes(b) as usize]),
            (Raw::I16 | Raw::U16, true) => src.each(out, |b| table[u16::from_be_bytes(b) as usize]),
            (Raw::I32, false) => src.each(out, |b| d.decode(i32::from_le_bytes(b) as f64)),
            (Raw::I32, true) => src.each(out, |b| d.decode(i32::from_be_bytes(b) as f64)),
            (Raw::U32, false) => src.each(out, |b| d.decode(u32::from_le_bytes(b) as f64)),
            (Raw::U32, true) => src.each(out, |b| d.decode(u32::from_be_bytes(b) as f64)),
            (Raw::F32, false) => src.each(out, |b| d.decode(f32::from_le_bytes(b) as f64)),
            (Raw::F32, true) => src.each(out, |b| d.decode(f32::from_be_bytes(b) as f64)),
            (Raw::F64, false) => src.each(out, |b| d.decode(f64::from_le_bytes(b))),
            (Raw::F64, true) => src.each(out, |b| d.decode(f64::from_be_bytes(b))),
        }
        // Only curvilinear selections have pixels outside the box.
        if inside.contains(&false) {
            for (slot, &inside) in out.iter_mut().zip(inside) {
                if !inside {
                    *slot = f64::NAN;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocean::cf;
    use crate::ocean::memory::Budget;
    use crate::ocean::read::{Scratch, read_step};
    use crate::ocean::select::{BBox, Selection};

    #[test]
    fn unshuffle_restores_elements() {
        let values: Vec<u8> = (0..7u8).collect(); // three 2-byte elements and a stray byte
        let shuffled = [0, 2, 4, 1, 3, 5, 6];
        let mut out = Vec::new();
        unshuffle(&shuffled, 2, &mut out);
        assert_eq!(out, values);
    }

    /// Writes `var` chunked and compressed (with shuffle) with libnetcdf, then reads every step
    /// of several boxes both directly and through libnetcdf: the values must be the same bits.
    fn round_trip(chunks: &[usize], shuffle: bool) {
        let dir = tempfile_dir();
        let path = dir.join(format!("chunks_{}_{shuffle}.nc", chunks.len()));
        let (nt, ny, nx) = (5usize, 37usize, 53usize);
        {
            let mut f = netcdf::create(&path).unwrap();
            f.add_dimension("time", nt).unwrap();
            f.add_dimension("lat", ny).unwrap();
            f.add_dimension("lon", nx).unwrap();
            let mut t = f.add_variable::<f64>("time", &["time"]).unwrap();
            t.put_attribute("units", "days since 2024-01-01").unwrap();
            t.put_values(&(0..nt).map(|i| i as f64).collect::<Vec<_>>(), ..).unwrap();
            let mut lat = f.add_variable::<f64>("lat", &["lat"]).unwrap();
            lat.put_attribute("units", "degrees_north").unwrap();
            lat.put_values(&(0..ny).map(|i| -45.0 + 2.5 * i as f64).collect::<Vec<_>>(), ..).unwrap();
            let mut lon = f.add_variable::<f64>("lon", &["lon"]).unwrap();
            lon.put_attribute("units", "degrees_east").unwrap();
            lon.put_values(&(0..nx).map(|i| -180.0 + 6.8 * i as f64).collect::<Vec<_>>(), ..).unwrap();
            let mut v = f.add_variable::<i16>("sst", &["time", "lat", "lon"]).unwrap();
            v.set_chunking(chunks).unwrap();
            v.set_compression(4, shuffle).unwrap();
            v.set_fill_value(-32768i16).unwrap();
            v.put_attribute("scale_factor", 0.001f64).unwrap();
            v.put_attribute("add_offset", 298.15f64).unwrap();
            let data: Vec<i16> =
                (0..nt * ny * nx).map(|i| if i % 17 == 0 { -32768 } else { ((i * 7919) % 60000) as i16 }).collect();
            v.put_values(&data, ..).unwrap();
        }
        let budget = Budget::new(1 << 30);
        let file = cf::open(&path, "chunks.nc").unwrap();
        let info = cf::describe(&file, &path, "chunks.nc", "sst", &budget).unwrap();
        let coords = cf::read_coords(&file, &info, &budget).unwrap();
        for bbox in ["-180,-90,180,90", "-100,-20,30,10", "150,-40,-150,40", "-10,0,-10,0"] {
            let sel = Selection::new(&coords, ny, nx, &BBox::parse(bbox).unwrap()).unwrap();
            let steps: Vec<usize> = (0..nt).collect();
            let Plan::Direct(direct) = Direct::plan(&info, &sel, &steps, &budget).unwrap() else {
                panic!("a chunked deflate variable is read directly")
            };
            let (mut buffers, mut scratch) = (Buffers::default(), Scratch::default());
            let (mut a, mut b) = (Vec::new(), Vec::new());
            for t in [0, 1, 4, 2] {
                direct.read_step(&info, t, &sel, &mut buffers, &mut a).unwrap();
                read_step(&file, &info, t, &sel, &mut scratch, &mut b).unwrap();
                let same = a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits());
                assert!(same && a.len() == b.len(), "{chunks:?} {bbox} step {t}");
            }
        }
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("vocloud-chunks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn direct_reads_equal_libnetcdf_reads() {
        round_trip(&[1, 16, 20], true); // partial edge chunks in y and x
        round_trip(&[2, 37, 53], false); // two time steps per chunk, one chunk per step
    }

    #[test]
    fn contiguous_variables_are_left_to_libnetcdf() {
        let dir = tempfile_dir();
        let path = dir.join("contiguous.nc");
        {
            let mut f = netcdf::create(&path).unwrap();
            f.add_dimension("time", 1).unwrap();
            f.add_dimension("lat", 2).unwrap();
            f.add_dimension("lon", 2).unwrap();
            let mut t = f.add_variable::<f64>("time", &["time"]).unwrap();
            t.put_attribute("units", "days since 2024-01-01").unwrap();
            t.put_values(&[0.0], ..).unwrap();
            for (name, units) in [("lat", "degrees_north"), ("lon", "degrees_east")] {
                let mut c = f.add_variable::<f64>(name, &[name]).unwrap();
                c.put_attribute("units", units).unwrap();
                c.put_values(&[0.0, 1.0], ..).unwrap();
            }
            let mut v = f.add_variable::<f32>("sst", &["time", "lat", "lon"]).unwrap();
            v.put_values(&[1.0f32, 2.0, 3.0, 4.0], ..).unwrap();
        }
        let budget = Budget::new(1 << 30);
        let file = cf::open(&path, "contiguous.nc").unwrap();
        let info = cf::describe(&file, &path, "contiguous.nc", "sst", &budget).unwrap();
        let coords = cf::read_coords(&file, &info, &budget).unwrap();
        drop(file);
        let sel = Selection::new(&coords, 2, 2, &BBox::parse("-180,-90,180,90").unwrap()).unwrap();
        match Direct::plan(&info, &sel, &[0], &budget).unwrap() {
            Plan::Fallback(why) => assert!(why.contains("contiguous"), "{why}"),
            Plan::Direct(_) => panic!("a contiguous variable has no chunks to read"),
        }
    }

    #[test]
    fn declared_chunk_sizes_are_checked_before_allocating() {
        assert_eq!(chunk_bytes(&[1, 360, 720], 2), Ok(518_400));
        assert!(chunk_bytes(&[1, 0, 90], 2).unwrap_err().contains("zero dimension"));
        assert!(chunk_bytes(&[1 << 40, 1 << 40], 8).unwrap_err().contains("more than memory can address"));
        assert_eq!(stored_bound(1000, &[Filter::Shuffle(2)]), 1000, "unfiltered chunks hold exactly their values");
        assert!(stored_bound(1 << 20, &[Filter::Deflate]) > (1 << 20) + (1 << 20) / 64, "deflate's worst case");
        assert_eq!(step_bytes(&[1, 360, 720], 2, 720, 1440), 3 * 518_400, "one chunk at a time");
        assert_eq!(step_bytes(&[2, 360, 720], 2, 720, 1440), (3 * 4 + 2) * 2 * 518_400, "the row of chunks");
        assert_eq!(step_bytes(&[usize::MAX, usize::MAX, usize::MAX], 8, 10, 10), u64::MAX, "saturates");
    }
}
