//! The golden compressor and decompressor of a whole tensor (steps 2–6 of the
//! scheme): tile by tile, transform, group, quantize and pack; and back.
//!
//! Payload of one tile (docs/stream-format.md): in dynamic grouping first the
//! group map — for each block, for each component k = 0..B, its group index in
//! `ceil(log2 G)` bits — then for each pixel vector of the tile, for each block,
//! for each component k = 0..B in natural order, its code in the bit-width of
//! its group (nothing for 0-bit groups); then zero padding to a word boundary.

use crate::bitstream::{BitReader, BitWriter};
use crate::codec_channel::ChannelEngine;
use crate::codec_fast::{FastEngine, Layout};
use crate::error::{GoldenError, Result};
use crate::grouping::{dynamic_group_map, rank_positions, static_group_map};
use crate::policy::{group_index_bits, Grouping, Policy, QUANT_SHIFT};
use crate::quantizer::GroupQuantizer;
use crate::transform::BlockMatrices;

/// One block's group quantizers as flat tables (group-major).
#[derive(Debug, Clone)]
struct GroupTables {
    bits: Vec<u32>,
    qmul: Vec<i64>,
    /// `[g * 256 + fine + 128]`
    encode: Vec<i32>,
    /// `[g * 256 + code + 2^(bits-1)]`
    levels: Vec<i32>,
}

impl GroupTables {
    fn new(qs: &[GroupQuantizer]) -> Self {
        let n = qs.len();
        let mut t = GroupTables { bits: vec![0; n], qmul: vec![0; n], encode: vec![0; n * 256], levels: vec![0; n * 256] };
        for (g, q) in qs.iter().enumerate() {
            t.bits[g] = q.bits;
            t.qmul[g] = q.qmul as i64;
            t.encode[g * 256..g * 256 + q.encode.len()].copy_from_slice(&q.encode);
            t.levels[g * 256..g * 256 + q.levels.len()].copy_from_slice(&q.levels);
        }
        t
    }

    #[inline(always)]
    fn quantize(&self, g: usize, y: i32) -> i32 {
        if self.bits[g] == 0 {
            return 0;
        }
        let f = ((y as i64 * self.qmul[g] + (1 << (QUANT_SHIFT - 1))) >> QUANT_SHIFT).clamp(-128, 127);
        self.encode[g * 256 + (f + 128) as usize]
    }

    #[inline(always)]
    fn dequantize(&self, g: usize, code: i32) -> i32 {
        let b = self.bits[g];
        if b == 0 {
            return 0;
        }
        self.levels[g * 256 + (code + (1 << (b - 1))) as usize]
    }
}

/// Which group and code each transform output got in one pass of the codec,
/// `[vector * C + slot]` (vector-major, block-major within the vector, as
/// [`Codec::transform_outputs`]): slot `bi * B + k` is component k of block bi.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuantTrace {
    /// Group index of each component (its tile's group map in dynamic grouping).
    pub groups: Vec<u8>,
    /// Code of each component (0 in a 0-bit group); its level is
    /// `levels[code + 2^(bits-1)]` of its group.
    pub codes: Vec<i32>,
}

/// How a [`Codec`] evaluates the scheme. Every engine gives the same bits;
/// the property tests (golden/tests/properties.rs) hold them to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// The straightforward evaluation: every vector transformed, every
    /// field written and read one at a time through [`BitWriter`] / [`BitReader`].
    Plain,
    /// The fast tile engine (rest-vector shortcut, coded lanes only, 64-bit
    /// bit packing) with portable transforms.
    Portable,
    /// [`Engine::Portable`] plus AVX2 dense transforms where exact; the same
    /// as `Portable` on machines without AVX2.
    Simd,
    /// For policies whose transforms are all diagonal (identity), or dense
    /// (PCA, DCT) under static grouping within 32-bit bounds, with blocks of
    /// at most 16 components and tiles of at most 64 vectors: the
    /// channel-major engine, straight on the tensor layout with a run-level
    /// rest shortcut (dense blocks: 8 vectors at a time, component-major).
    /// Other policies run as [`Engine::Simd`].
    Channel,
}

impl Engine {
    /// The fastest engine for this machine.
    pub fn best() -> Engine {
        Engine::Channel
    }
}

/// Largest block size the fast engine handles (its lane indices are 16-bit);
/// larger blocks run on [`Engine::Plain`].
const FAST_MAX_BLOCK: usize = 4096;

/// A policy prepared for fast compression and decompression.
#[derive(Debug, Clone)]
pub struct Codec {
    policy: Policy,
    engine: Engine,
    fast: Option<FastEngine>,
    /// The channel-major engine ([`Engine::Channel`] on a policy it suits).
    channel: Option<ChannelEngine>,
    blocks: Vec<BlockMatrices>,
    tables: Vec<GroupTables>,
    static_maps: Vec<Vec<u8>>,
    positions: Vec<Vec<usize>>,
    sizes: Vec<Vec<usize>>,
    index_bits: Vec<u32>,
}

/// Per-tile working buffers.
struct Scratch {
    x: Vec<i16>,
    y: Vec<i32>,
    codes: Vec<i32>,
    maps: Vec<u8>,
    lane_bits: Vec<u32>,
    energy: Vec<u64>,
    order: Vec<usize>,
}

impl Codec {
    /// Validates the policy and prepares its tables, for the fastest engine of this machine.
    pub fn new(policy: &Policy) -> Result<Codec> {
        Self::with_engine(policy, Engine::best())
    }

    /// [`Codec::new`] with a chosen engine (`Simd` without AVX2 runs as `Portable`).
    pub fn with_engine(policy: &Policy, engine: Engine) -> Result<Codec> {
        policy.validate()?;
        let blocks: Vec<BlockMatrices> = policy.blocks.iter().map(BlockMatrices::new).collect();
        let engine = match engine {
            _ if policy.block_size > FAST_MAX_BLOCK => Engine::Plain,
            Engine::Simd if !crate::kernels::avx2_available() => Engine::Portable,
            e => e,
        };
        let simd = crate::kernels::avx2_available();
        let fast = match engine {
            Engine::Plain => None,
            Engine::Portable => Some(FastEngine::new(policy, &blocks, false)),
            Engine::Simd | Engine::Channel => Some(FastEngine::new(policy, &blocks, simd)),
        };
        let channel = if engine == Engine::Channel { ChannelEngine::new(policy, &blocks) } else { None };
        Ok(Codec {
            policy: policy.clone(),
            engine,
            fast,
            channel,
            blocks,
            tables: policy
                .blocks
                .iter()
                .map(|b| GroupTables::new(&b.groups.iter().map(GroupQuantizer::new).collect::<Vec<_>>()))
                .collect(),
            static_maps: policy.blocks.iter().map(static_group_map).collect(),
            positions: policy.blocks.iter().map(|b| rank_positions(&b.rank)).collect(),
            sizes: policy.blocks.iter().map(|b| b.groups.iter().map(|g| g.size).collect()).collect(),
            index_bits: policy.blocks.iter().map(|b| group_index_bits(b.groups.len())).collect(),
        })
    }

    /// The policy this codec runs.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The engine this codec runs.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// This codec with the channel-major engine's tile loops in portable code
    /// (what runs on CPUs without AVX2 and BMI2), so tests on machines that
    /// have them still check that code against the others.
    #[doc(hidden)]
    pub fn with_portable_channel_loops(mut self) -> Codec {
        self.channel = self.channel.map(ChannelEngine::portable);
        self
    }

    /// This codec with the channel-major engine's AVX-512 code left out
    /// (its AVX2 and BMI2 tile loops, where the CPU has them), so tests on
    /// machines with AVX-512 still check that code against the others.
    #[doc(hidden)]
    pub fn with_avx2_channel_loops(mut self) -> Codec {
        self.channel = self.channel.map(ChannelEngine::without_avx512);
        self
    }

    /// Whether the channel-major engine runs AVX-512 code (for tests and reports).
    #[doc(hidden)]
    pub fn channel_uses_avx512(&self) -> bool {
        self.channel.as_ref().is_some_and(ChannelEngine::uses_avx512)
    }

    /// Whether compress and decompress run on the channel-major engine
    /// ([`Engine::Channel`] and a policy it suits).
    pub fn channel_major(&self) -> bool {
        self.channel.is_some()
    }

    /// For each block, the (forward, inverse) transform path of the fast
    /// engine: "dense avx2", "diagonal table" or "portable" (empty for
    /// [`Engine::Plain`]). A codec that runs channel-major
    /// ([`Codec::channel_major`]) uses its own paths, not these. For tests
    /// that must reach every fast-engine path, and reports.
    pub fn transform_paths(&self) -> Vec<(&'static str, &'static str)> {
        self.fast.as_ref().map_or_else(Vec::new, |f| f.transform_paths())
    }

    fn layout(&self, shape: &[usize], len: usize) -> Result<Layout> {
        if shape.len() < 2 {
            return Err(GoldenError::BadInput(format!("shape {shape:?} has no channel axis")));
        }
        if shape[1] != self.policy.channels {
            return Err(GoldenError::BadInput(format!(
                "tensor has {} channels (shape {:?}), the policy was made for {}",
                shape[1], shape, self.policy.channels
            )));
        }
        let n: usize = shape.iter().product();
        if n != len || n == 0 {
            return Err(GoldenError::BadInput(format!("shape {shape:?} does not match {len} values")));
        }
        let spatial: usize = shape[2..].iter().product();
        Ok(Layout { channels: shape[1], spatial, vectors: shape[0] * spatial })
    }

    /// [`Codec::layout`] of input codes, which must lie in the policy's code
    /// range (every transform bound, and the fast paths, rely on it).
    fn input_layout(&self, shape: &[usize], codes: &[i16]) -> Result<Layout> {
        let lay = self.layout(shape, codes.len())?;
        let (lo, hi) = (self.policy.input.code_range.min(), self.policy.input.code_range.max());
        let (min, max) = codes.iter().fold((i16::MAX, i16::MIN), |(a, b), &v| (a.min(v), b.max(v)));
        if (min as i32) < lo || (max as i32) > hi {
            let i = codes.iter().position(|&v| (v as i32) < lo || (v as i32) > hi).expect("found above");
            return Err(GoldenError::BadInput(format!(
                "code {} at flat index {i} is outside the policy's code range {lo}..={hi}",
                codes[i]
            )));
        }
        Ok(lay)
    }

    fn scratch(&self) -> Scratch {
        let (t, c, b) = (self.policy.tile, self.policy.channels, self.policy.block_size);
        Scratch {
            x: vec![0; t * c],
            y: vec![0; t * c],
            codes: vec![0; t * c],
            maps: vec![0; c],
            lane_bits: vec![0; c],
            energy: vec![0; b],
            order: Vec::with_capacity(b),
        }
    }

    /// Transform, group and quantize the `count` vectors in `s.x`.
    fn encode_tile(&self, s: &mut Scratch, count: usize) {
        let (c, b) = (self.policy.channels, self.policy.block_size);
        for t in 0..count {
            for (bi, m) in self.blocks.iter().enumerate() {
                let off = t * c + bi * b;
                m.forward(&s.x[off..off + b], &mut s.y[off..off + b]);
            }
        }
        for bi in 0..self.blocks.len() {
            let map = &mut s.maps[bi * b..(bi + 1) * b];
            match self.policy.grouping {
                Grouping::Static => map.copy_from_slice(&self.static_maps[bi]),
                Grouping::Dynamic => {
                    s.energy.iter_mut().for_each(|e| *e = 0);
                    for t in 0..count {
                        let off = t * c + bi * b;
                        for (e, &y) in s.energy.iter_mut().zip(&s.y[off..off + b]) {
                            *e += y.unsigned_abs() as u64;
                        }
                    }
                    dynamic_group_map(&s.energy, &self.positions[bi], &self.sizes[bi], &mut s.order, map);
                }
            }
            let q = &self.tables[bi];
            for t in 0..count {
                let off = t * c + bi * b;
                for k in 0..b {
                    s.codes[off + k] = q.quantize(map[k] as usize, s.y[off + k]);
                }
            }
        }
    }

    /// Dequantize and inverse-transform the `count` vectors of `s.codes` into `s.x`.
    fn decode_tile(&self, s: &mut Scratch, count: usize) {
        let (c, b) = (self.policy.channels, self.policy.block_size);
        let (lo, hi) = (self.policy.input.code_range.min(), self.policy.input.code_range.max());
        for bi in 0..self.blocks.len() {
            let map = &s.maps[bi * b..(bi + 1) * b];
            let q = &self.tables[bi];
            for t in 0..count {
                let off = t * c + bi * b;
                for k in 0..b {
                    s.y[off + k] = q.dequantize(map[k] as usize, s.codes[off + k]);
                }
                self.blocks[bi].inverse(&s.y[off..off + b], lo, hi, &mut s.x[off..off + b]);
            }
        }
    }

    /// Compresses integer codes (C order, shape N x C x ...) into payload words.
    /// Errors on a shape that does not fit the policy or codes outside its code range.
    pub fn compress(&self, codes: &[i16], shape: &[usize]) -> Result<Vec<u64>> {
        let lay = self.input_layout(shape, codes)?;
        Ok(self.compress_range(codes, &lay, 0, lay.vectors))
    }

    /// [`Codec::compress`] of the tensor's own int8/uint8 bytes: each code as
    /// its byte (two's complement for an int8 code range, plain for uint8),
    /// C order, shape N x C x ... Every byte is a code of the range, so
    /// there is nothing to check but the shape. The channel-major engine
    /// reads the bytes as they are; the others widen them first.
    pub fn compress_bytes(&self, bytes: &[u8], shape: &[usize]) -> Result<Vec<u64>> {
        let lay = self.layout(shape, bytes.len())?;
        if let Some(ch) = &self.channel {
            return Ok(ch.compress_range(bytes, &lay, 0, lay.vectors, self.words_hint(0, lay.vectors)));
        }
        self.compress(&self.codes_of_bytes(bytes), shape)
    }

    /// [`Codec::decompress`] into the tensor's int8/uint8 bytes (each code as
    /// its byte, as [`Codec::compress_bytes`] takes them).
    pub fn decompress_bytes(&self, words: &[u64], shape: &[usize]) -> Result<Vec<u8>> {
        let lay = self.check_payload_len(words, shape)?;
        if let Some(ch) = &self.channel {
            return ch.decompress(words, &lay);
        }
        Ok(self.decompress(words, shape)?.into_iter().map(|c| c as u8).collect())
    }

    /// Codes of int8/uint8 bytes under the policy's code range.
    fn codes_of_bytes(&self, bytes: &[u8]) -> Vec<i16> {
        match self.policy.input.code_range {
            crate::policy::CodeRange::Int8 => bytes.iter().map(|&b| b as i8 as i16).collect(),
            crate::policy::CodeRange::Uint8 => bytes.iter().map(|&b| b as i16).collect(),
        }
    }

    /// [`Codec::compress`] on all cores: tiles start on word boundaries, so
    /// runs of tiles are compressed independently and concatenated.
    pub fn compress_parallel(&self, codes: &[i16], shape: &[usize]) -> Result<Vec<u64>> {
        use rayon::prelude::*;
        let lay = self.input_layout(shape, codes)?;
        let chunks = self.chunks(lay.vectors);
        let parts: Vec<Vec<u64>> = chunks.par_iter().map(|&(a, b)| self.compress_range(codes, &lay, a, b)).collect();
        Ok(parts.concat())
    }

    /// Runs of whole tiles, about 64 K values each: (first vector, end vector).
    fn chunks(&self, vectors: usize) -> Vec<(usize, usize)> {
        let t = self.policy.tile;
        let per = (65536 / (t * self.policy.channels)).max(1) * t;
        (0..vectors).step_by(per).map(|a| (a, (a + per).min(vectors))).collect()
    }

    /// Room for the payload words of the tiles covering vectors `first..end`
    /// (every tile counted full).
    fn words_hint(&self, first: usize, end: usize) -> usize {
        let p = &self.policy;
        ((end - first).div_ceil(p.tile) as u64 * p.words_per_tile(p.tile)) as usize
    }

    /// Payload words of the tiles covering vectors `first..end` (`first` on a tile start).
    fn compress_range(&self, codes: &[i16], lay: &Layout, first: usize, end: usize) -> Vec<u64> {
        let p = &self.policy;
        if let Some(ch) = &self.channel {
            return ch.compress_range(codes, lay, first, end, self.words_hint(first, end));
        }
        if let Some(fast) = &self.fast {
            return fast.compress_range(codes, lay, first, end, self.words_hint(first, end));
        }
        let (c, b) = (p.channels, p.block_size);
        let mut s = self.scratch();
        let mut w = BitWriter::with_capacity(p.word_bits, self.words_hint(first, end));
        let mut first = first;
        while first < end {
            let count = p.tile.min(end - first);
            lay.gather(codes, first, count, &mut s.x);
            self.encode_tile(&mut s, count);
            if p.grouping == Grouping::Dynamic {
                for bi in 0..self.blocks.len() {
                    for &g in &s.maps[bi * b..(bi + 1) * b] {
                        w.push(g as u64, self.index_bits[bi]);
                    }
                }
            }
            for (bi, lb) in s.lane_bits.chunks_mut(b).enumerate() {
                for (k, l) in lb.iter_mut().enumerate() {
                    *l = self.tables[bi].bits[s.maps[bi * b + k] as usize];
                }
            }
            for t in 0..count {
                for (&code, &bits) in s.codes[t * c..(t + 1) * c].iter().zip(&s.lane_bits) {
                    w.push(code as u32 as u64, bits);
                }
            }
            w.align();
            first += count;
        }
        w.finish()
    }

    fn check_payload_len(&self, words: &[u64], shape: &[usize]) -> Result<Layout> {
        let n: usize = shape.iter().product();
        let lay = self.layout(shape, n)?;
        let expect = self.policy.payload_words(lay.vectors);
        if words.len() as u64 != expect {
            return Err(GoldenError::Corrupt(format!(
                "payload has {} words; shape {:?} under this policy needs {}",
                words.len(),
                shape,
                expect
            )));
        }
        Ok(lay)
    }

    /// Decompresses payload words into integer codes (C order) of `shape`.
    /// Errors on a payload of the wrong length, a corrupt group map or non-zero padding.
    pub fn decompress(&self, words: &[u64], shape: &[usize]) -> Result<Vec<i16>> {
        let lay = self.check_payload_len(words, shape)?;
        if let Some(ch) = &self.channel {
            return ch.decompress(words, &lay);
        }
        let mut out = vec![0i16; shape.iter().product()];
        if let Some(fast) = &self.fast {
            // tile by tile straight into the output layout
            fast.decompress_tiles(words, 0, lay.vectors, |first, count, rows| lay.scatter(rows, first, count, &mut out))?;
            return Ok(out);
        }
        let vecs = self.decompress_range(words, 0, lay.vectors)?;
        lay.scatter(&vecs, 0, lay.vectors, &mut out);
        Ok(out)
    }

    /// [`Codec::decompress`] on all cores (runs of whole tiles in parallel).
    pub fn decompress_parallel(&self, words: &[u64], shape: &[usize]) -> Result<Vec<i16>> {
        use rayon::prelude::*;
        let lay = self.check_payload_len(words, shape)?;
        let wpt = self.policy.words_per_tile(self.policy.tile) as usize;
        if let Some(ch) = &self.channel {
            return self.channel_decompress_parallel(ch, words, &lay, wpt);
        }
        let parts: Vec<Result<Vec<i16>>> = self
            .chunks(lay.vectors)
            .par_iter()
            .map(|&(a, b)| {
                let w0 = a / self.policy.tile * wpt;
                let w1 = if b == lay.vectors { words.len() } else { b / self.policy.tile * wpt };
                self.decompress_range(&words[w0..w1], a, b)
            })
            .collect();
        let mut out = vec![0i16; shape.iter().product()];
        let mut first = 0;
        for part in parts {
            let part = part?;
            let count = part.len() / self.policy.channels;
            lay.scatter(&part, first, count, &mut out);
            first += count;
        }
        Ok(out)
    }

    /// The channel-major engine's decoding on all cores: runs of tiles
    /// decoded in parallel straight into the one tensor (codes or bytes).
    fn channel_decompress_parallel<U: crate::codec_channel::CodeUnit + Send + Sync>(
        &self,
        ch: &crate::codec_channel::ChannelEngine,
        words: &[u64],
        lay: &Layout,
        words_per_tile: usize,
    ) -> Result<Vec<U>> {
        use rayon::prelude::*;
        crate::codec_channel::written_tensor(lay.vectors * self.policy.channels, |rows| {
            let results: Vec<Result<()>> = self
                .chunks(lay.vectors)
                .par_iter()
                .map(|&(a, b)| {
                    let w0 = a / self.policy.tile * words_per_tile;
                    let w1 = if b == lay.vectors { words.len() } else { b / self.policy.tile * words_per_tile };
                    // SAFETY: each run writes only its own vectors' values (not exclusive)
                    unsafe { ch.decompress_range(&words[w0..w1], w0, lay, a, b, rows, false) }
                })
                .collect();
            // Ok only if every run wrote its values; else the first error in
            // payload order, as the serial decoder reports it
            results.into_iter().collect::<Result<Vec<()>>>().map(drop)
        })
    }

    /// [`Codec::compress_bytes`] on all cores (runs of tiles, as [`Codec::compress_parallel`]).
    pub fn compress_bytes_parallel(&self, bytes: &[u8], shape: &[usize]) -> Result<Vec<u64>> {
        use rayon::prelude::*;
        let lay = self.layout(shape, bytes.len())?;
        if let Some(ch) = &self.channel {
            let parts: Vec<Vec<u64>> = self.chunks(lay.vectors).par_iter().map(|&(a, b)| ch.compress_range(bytes, &lay, a, b, self.words_hint(a, b))).collect();
            return Ok(parts.concat());
        }
        self.compress_parallel(&self.codes_of_bytes(bytes), shape)
    }

    /// [`Codec::decompress_bytes`] on all cores (runs of tiles, as [`Codec::decompress_parallel`]).
    pub fn decompress_bytes_parallel(&self, words: &[u64], shape: &[usize]) -> Result<Vec<u8>> {
        let lay = self.check_payload_len(words, shape)?;
        if let Some(ch) = &self.channel {
            return self.channel_decompress_parallel(ch, words, &lay, self.policy.words_per_tile(self.policy.tile) as usize);
        }
        Ok(self.decompress_parallel(words, shape)?.into_iter().map(|c| c as u8).collect())
    }

    /// Decodes the words of the tiles covering vectors `first..end` into
    /// vector-major codes (`(end - first) x C`).
    fn decompress_range(&self, words: &[u64], first: usize, end: usize) -> Result<Vec<i16>> {
        let p = &self.policy;
        if let Some(fast) = &self.fast {
            return fast.decompress_range(words, first, end);
        }
        let (c, b) = (p.channels, p.block_size);
        let mut s = self.scratch();
        let mut out = vec![0i16; (end - first) * c];
        let mut r = BitReader::new(words, p.word_bits);
        let mut pos = first;
        let mut tile = first / p.tile;
        let mut counts = vec![0usize; crate::policy::MAX_GROUPS];
        while pos < end {
            let count = p.tile.min(end - pos);
            for bi in 0..self.blocks.len() {
                let map = &mut s.maps[bi * b..(bi + 1) * b];
                match p.grouping {
                    Grouping::Static => map.copy_from_slice(&self.static_maps[bi]),
                    Grouping::Dynamic => {
                        let ng = self.sizes[bi].len();
                        counts.iter_mut().for_each(|x| *x = 0);
                        for m in map.iter_mut() {
                            let g = r.read(self.index_bits[bi])? as usize;
                            if g >= ng {
                                return Err(GoldenError::Corrupt(format!(
                                    "tile {tile}, block {bi}: group index {g} but the block has {ng} groups"
                                )));
                            }
                            counts[g] += 1;
                            *m = g as u8;
                        }
                        if counts[..ng] != self.sizes[bi][..] {
                            return Err(GoldenError::Corrupt(format!(
                                "tile {tile}, block {bi}: group map has sizes {:?}, the policy says {:?}",
                                &counts[..ng],
                                self.sizes[bi]
                            )));
                        }
                    }
                }
            }
            for (bi, lb) in s.lane_bits.chunks_mut(b).enumerate() {
                for (k, l) in lb.iter_mut().enumerate() {
                    *l = self.tables[bi].bits[s.maps[bi * b + k] as usize];
                }
            }
            for t in 0..count {
                for (code, &bits) in s.codes[t * c..(t + 1) * c].iter_mut().zip(&s.lane_bits) {
                    *code = r.read_signed(bits)?;
                }
            }
            if r.align().is_err() {
                return Err(GoldenError::Corrupt(format!("tile {tile}: non-zero padding bits before word {}", r.words_consumed())));
            }
            self.decode_tile(&mut s, count);
            let o = (pos - first) * c;
            out[o..o + count * c].copy_from_slice(&s.x[..count * c]);
            pos += count;
            tile += 1;
        }
        Ok(out)
    }

    /// What decompress(compress(codes)) gives, computed without packing.
    pub fn reconstruct(&self, codes: &[i16], shape: &[usize]) -> Result<Vec<i16>> {
        self.reconstruct_with(codes, shape, None)
    }

    /// [`Codec::reconstruct`] and, from the same pass, which group and code every transform
    /// output got (what learning the level tables by gradient needs).
    pub fn reconstruct_traced(&self, codes: &[i16], shape: &[usize]) -> Result<(Vec<i16>, QuantTrace)> {
        let mut trace = QuantTrace::default();
        let out = self.reconstruct_with(codes, shape, Some(&mut trace))?;
        Ok((out, trace))
    }

    fn reconstruct_with(&self, codes: &[i16], shape: &[usize], mut trace: Option<&mut QuantTrace>) -> Result<Vec<i16>> {
        let lay = self.input_layout(shape, codes)?;
        let p = &self.policy;
        let c = p.channels;
        let mut s = self.scratch();
        let mut out = vec![0i16; codes.len()];
        if let Some(tr) = trace.as_deref_mut() {
            tr.groups = Vec::with_capacity(codes.len());
            tr.codes = Vec::with_capacity(codes.len());
        }
        let mut first = 0;
        while first < lay.vectors {
            let count = p.tile.min(lay.vectors - first);
            lay.gather(codes, first, count, &mut s.x);
            self.encode_tile(&mut s, count);
            if let Some(tr) = trace.as_deref_mut() {
                tr.codes.extend_from_slice(&s.codes[..count * c]);
                for _ in 0..count {
                    tr.groups.extend_from_slice(&s.maps[..c]);
                }
            }
            self.decode_tile(&mut s, count);
            lay.scatter(&s.x, first, count, &mut out);
            first += count;
        }
        Ok(out)
    }

    /// The inverse transform's output before the inverse mean and the clamp,
    /// for every value (C order): what calibration needs to learn the inverse mean.
    pub fn inverse_unclamped(&self, codes: &[i16], shape: &[usize]) -> Result<Vec<i64>> {
        let lay = self.input_layout(shape, codes)?;
        let p = &self.policy;
        let (c, b) = (p.channels, p.block_size);
        let mut s = self.scratch();
        let mut out = vec![0i64; codes.len()];
        let mut first = 0;
        while first < lay.vectors {
            let count = p.tile.min(lay.vectors - first);
            lay.gather(codes, first, count, &mut s.x);
            self.encode_tile(&mut s, count);
            for t in 0..count {
                let pv = first + t;
                let (n, sp) = (pv / lay.spatial, pv % lay.spatial);
                for bi in 0..self.blocks.len() {
                    let off = t * c + bi * b;
                    let q = &self.tables[bi];
                    for k in 0..b {
                        s.y[off + k] = q.dequantize(s.maps[bi * b + k] as usize, s.codes[off + k]);
                    }
                    for i in 0..b {
                        out[(n * c + bi * b + i) * lay.spatial + sp] = self.blocks[bi].inverse_unclamped(&s.y[off..off + b], i);
                    }
                }
            }
            first += count;
        }
        Ok(out)
    }

    /// Transform outputs y of every pixel vector, `[vector * C + channel-slot]`
    /// (block-major within the vector), for calibration and hardware tests.
    pub fn transform_outputs(&self, codes: &[i16], shape: &[usize]) -> Result<Vec<i32>> {
        let lay = self.input_layout(shape, codes)?;
        let (c, b) = (self.policy.channels, self.policy.block_size);
        let mut x = vec![0i16; c];
        let mut y = vec![0i32; lay.vectors * c];
        for v in 0..lay.vectors {
            lay.gather(codes, v, 1, &mut x);
            for (bi, m) in self.blocks.iter().enumerate() {
                m.forward(&x[bi * b..(bi + 1) * b], &mut y[v * c + bi * b..v * c + (bi + 1) * b]);
            }
        }
        Ok(y)
    }
}
