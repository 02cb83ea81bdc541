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
//! Anything else (netCDF-3, contiguous or unfiltered-contiguous layout, szip/zstd/fletcher32,
//! unwritten chunks holding fill values) returns `None` from [`Direct::plan`] and the caller
//! reads through libnetcdf as before. Both paths give the same raw values, hence the same
//! decoded numbers (unit test below, and the xarray comparisons in tests/api/ocean.rs).

use std::collections::HashMap;
use std::ffi::CString;
use std::os::unix::fs::FileExt;

use hdf5_metno_sys::{h5, h5d, h5f, h5i::hid_t, h5p, h5s, h5t};

use super::cf::{Decoder, FileInfo, quiet_hdf5};
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

impl Direct {
    /// Locates every chunk that steps `steps` of the selection touch. `None` when the variable
    /// is not stored in a way this reader handles (then read through libnetcdf).
    pub fn plan(info: &FileInfo, sel: &Selection, steps: &[usize]) -> Option<Direct> {
        let path = CString::new(info.path.as_os_str().as_encoded_bytes()).ok()?;
        let name = CString::new(format!("/{}", info.variable)).ok()?;
        let rank = info.shape.len();
        let (raw, big_endian, chunk, filters, chunks) = {
            let _lock = hdf5_metno_sys::LOCK.lock();
            quiet_hdf5();
            // SAFETY: plain libhdf5 calls under the library lock; every identifier is closed by
            // its `Id` guard, buffers are sized for the rank checked first.
            unsafe {
                if h5::H5open() < 0 || h5f::H5Fis_hdf5(path.as_ptr()) <= 0 {
                    return None;
                }
                let file = id(h5f::H5Fopen(path.as_ptr(), h5f::H5F_ACC_RDONLY, h5p::H5P_DEFAULT), h5f::H5Fclose)?;
                let dset = id(h5d::H5Dopen2(file.0, name.as_ptr(), h5p::H5P_DEFAULT), h5d::H5Dclose)?;
                let space = id(h5d::H5Dget_space(dset.0), h5s::H5Sclose)?;
                let mut dims = vec![0u64; rank];
                if h5s::H5Sget_simple_extent_ndims(space.0) != rank as i32
                    || h5s::H5Sget_simple_extent_dims(space.0, dims.as_mut_ptr(), std::ptr::null_mut()) < 0
                    || dims.iter().zip(&info.shape).any(|(&a, &b)| a as usize != b)
                {
                    return None;
                }
                let dcpl = id(h5d::H5Dget_create_plist(dset.0), h5p::H5Pclose)?;
                if h5p::H5Pget_layout(dcpl.0) != h5d::H5D_layout_t::H5D_CHUNKED {
                    return None;
                }
                let mut chunk = vec![0u64; rank];
                if h5p::H5Pget_chunk(dcpl.0, rank as i32, chunk.as_mut_ptr()) != rank as i32 {
                    return None;
                }
                let filters = filters(dcpl.0)?;
                let dtype = id(h5d::H5Dget_type(dset.0), h5t::H5Tclose)?;
                let (raw, big_endian) = raw_type(dtype.0)?;
                let chunk: Vec<usize> = chunk.iter().map(|&c| c as usize).collect();
                let mut chunks = HashMap::new();
                for origin in origins(&chunk, sel, steps, rank) {
                    let (mut skipped, mut addr, mut size) = (0u32, 0u64, 0u64);
                    if h5d::H5Dget_chunk_info_by_coord(dset.0, origin.as_ptr(), &mut skipped, &mut addr, &mut size) < 0
                        || addr == h5::HADDR_UNDEF
                    {
                        return None;
                    }
                    chunks.insert(origin, Location { addr, size, skipped });
                }
                (raw, big_endian, chunk, filters, chunks)
            }
        };
        let file = std::fs::File::open(&info.path).ok()?;
        Some(Direct {
            file,
            raw,
            big_endian,
            chunk,
            filters,
            chunks,
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        })
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
        packed.resize(loc.size as usize, 0);
        self.file.read_exact_at(packed, loc.addr).map_err(|e| format!("reading a chunk: {e}"))?;
        let expected = self.chunk.iter().product::<usize>() * self.raw.size();
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
                    let n =
                        inflater.zlib_decompress(input, &mut next).map_err(|e| format!("inflating a chunk: {e:?}"))?;
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

/// The filter pipeline, or None if it holds a filter this reader does not implement.
unsafe fn filters(dcpl: hid_t) -> Option<Vec<Filter>> {
    // SAFETY (whole function): called under the library lock with a valid property list; the
    // parameter buffer is sized by `n`, which libhdf5 updates to the number it filled.
    unsafe {
        let count = h5p::H5Pget_nfilters(dcpl);
        if count < 0 {
            return None;
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
                _ => return None,
            });
        }
        Some(out)
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
        let file = cf::open(&path, "chunks.nc").unwrap();
        let info = cf::describe(&file, &path, "chunks.nc", "sst").unwrap();
        let coords = cf::read_coords(&file, &info).unwrap();
        for bbox in ["-180,-90,180,90", "-100,-20,30,10", "150,-40,-150,40", "-10,0,-10,0"] {
            let sel = Selection::new(&coords, ny, nx, &BBox::parse(bbox).unwrap()).unwrap();
            let steps: Vec<usize> = (0..nt).collect();
            let direct = Direct::plan(&info, &sel, &steps).expect("a chunked deflate variable");
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
        let file = cf::open(&path, "contiguous.nc").unwrap();
        let info = cf::describe(&file, &path, "contiguous.nc", "sst").unwrap();
        let coords = cf::read_coords(&file, &info).unwrap();
        drop(file);
        let sel = Selection::new(&coords, 2, 2, &BBox::parse("-180,-90,180,90").unwrap()).unwrap();
        assert!(Direct::plan(&info, &sel, &[0]).is_none());
    }
}
