//! A policy of small blocks as fewer, wider blocks, for the channel engine.
//!
//! A vector's fields are, block after block, each block's components in
//! natural order (docs/stream-format.md). Under static grouping nothing
//! else travels per tile, so blocks j..j+m of B channels are exactly one
//! block of m·B channels whose matrices are block-diagonal, whose ranking
//! and groups are theirs one after the other, and whose means and forward
//! shifts are theirs side by side: the same fields, the same payload and
//! the same reconstruction, bit for bit. Under dynamic grouping a tile
//! starts with the blocks' group maps, also one after the other; the
//! merged block's map is theirs side by side, each part ranked on its own
//! and sent with its own index width (the engine's `MapPart`s). The
//! engine's cost is mostly per block and per run of vectors, not per
//! value, so one block of 16 channels runs much faster than two of 8.
//!
//! The blocks' inverse shifts may differ: a block with a shift `d` below the
//! widest is given the widest and levels multiplied by `2^d`, which is exact
//! (`(2^d·a + 2^(s+d−1)) >> (s+d) = (a + 2^(s−1)) >> s`) as long as the
//! levels still fit 16 bits.

use crate::policy::{BlockPolicy, Policy};
use std::ops::Range;

/// A policy's blocks merged into wider ones (see [`merged`]).
pub(crate) struct Merged {
    /// The policy with the merged blocks (blocks may differ in size; its
    /// `block_size` is the widest).
    pub policy: Policy,
    /// For each of its blocks, the original blocks it holds.
    pub parts: Vec<Range<usize>>,
}

/// `policy` with its blocks merged, from the first on: each merged block
/// is as many of the next blocks as fit `widest` channels and levels of 16
/// bits (a block that merges with none stays as it is). `None` when
/// nothing merges. A merged block may have more than
/// [`MAX_GROUPS`](crate::policy::MAX_GROUPS) groups
/// (up to one per component): the engine takes that many.
///
/// The blocks of the result may differ in size (24 channels in blocks of 8
/// become 16 + 8): it is for the channel engine, which takes such blocks.
/// A static result whose blocks do not differ is a valid policy of its own,
/// the same codec as `policy`; a dynamic one is not (its maps would travel
/// as one block's).
pub(crate) fn merged(policy: &Policy, widest: usize) -> Option<Merged> {
    let b = policy.block_size.max(1);
    let nb = policy.blocks.len();
    let (mut blocks, mut parts) = (Vec::new(), Vec::new());
    let mut j = 0;
    while j < nb {
        let m = (2..=(widest / b).min(nb - j)).rev().find_map(|m| Some((m, merged_block(&policy.blocks[j..j + m])?)));
        match m {
            Some((m, blk)) => {
                blocks.push(blk);
                parts.push(j..j + m);
                j += m;
            }
            None => {
                blocks.push(policy.blocks[j].clone());
                parts.push(j..j + 1);
                j += 1;
            }
        }
    }
    if blocks.len() == nb {
        return None;
    }
    let block_size = blocks.iter().map(|blk| blk.mean.len()).max()?;
    Some(Merged { policy: Policy { block_size, blocks, calibration: None, ..policy.clone() }, parts })
}

/// One block equivalent to `blocks` side by side (see the module), if its
/// levels still fit 16 bits.
fn merged_block(blocks: &[BlockPolicy]) -> Option<BlockPolicy> {
    let b = blocks[0].mean.len();
    let n = b * blocks.len();
    if blocks.iter().any(|blk| blk.mean.len() != b) {
        return None;
    }
    let shift = blocks.iter().map(|blk| blk.inverse_shift).max()?;
    let mut out = BlockPolicy {
        mean: Vec::with_capacity(n),
        forward: vec![vec![0; n]; n],
        forward_shift: Vec::with_capacity(n),
        inverse: vec![vec![0; n]; n],
        inverse_mean: Vec::with_capacity(n),
        inverse_shift: shift,
        rank: Vec::with_capacity(n),
        groups: Vec::new(),
    };
    for (j, blk) in blocks.iter().enumerate() {
        let o = j * b;
        for k in 0..b {
            out.forward[o + k][o..o + b].copy_from_slice(&blk.forward[k]);
            out.inverse[o + k][o..o + b].copy_from_slice(&blk.inverse[k]);
        }
        out.mean.extend_from_slice(&blk.mean);
        out.forward_shift.extend_from_slice(&blk.forward_shift);
        out.inverse_mean.extend_from_slice(&blk.inverse_mean);
        out.rank.extend(blk.rank.iter().map(|&k| o + k));
        let d = shift - blk.inverse_shift;
        for g in &blk.groups {
            let mut g = g.clone();
            for l in &mut g.levels {
                let scaled = (*l as i64) << d;
                *l = i16::try_from(scaled).ok()? as i32;
            }
            out.groups.push(g);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Codec, Engine};
    use crate::policy::{Grouping, MAX_GROUPS};
    use crate::testkit::{random_codes, random_policy, PolicySpec};
    use rand::{rngs::StdRng, Rng, SeedableRng};

    /// The merged policy is the same codec: the plain (golden) engine gives
    /// the same payload and the same reconstruction under both, and the
    /// merged policy is valid.
    #[test]
    fn merged_policies_give_the_same_payload_and_reconstruction() {
        let mut rng = StdRng::seed_from_u64(41);
        let mut merged_some = 0;
        for case in 0..300 {
            let b = [1, 2, 4, 8][rng.gen_range(0..4)];
            let nb = [2, 3, 4, 6, 8][rng.gen_range(0..5)];
            let spec = PolicySpec { channels: Some(b * nb), block_size: Some(b), grouping: Some(Grouping::Static), max_groups: Some(rng.gen_range(1..=4)), ..Default::default() };
            let mut policy = random_policy(&mut rng, &spec);
            // inverse shifts a few apart, and levels small enough to scale, in most cases
            for blk in policy.blocks.iter_mut() {
                blk.inverse_shift = rng.gen_range(14..=17);
            }
            let Some(Merged { policy: merged, parts }) = merged(&policy, 16) else { continue };
            assert_eq!(parts.iter().map(|r| r.len()).sum::<usize>(), policy.blocks.len(), "case {case}: parts {parts:?}");
            assert!(parts.windows(2).all(|w| w[0].end == w[1].start) && parts[0].start == 0, "case {case}: parts {parts:?}");
            let sizes: Vec<usize> = merged.blocks.iter().map(|blk| blk.mean.len()).collect();
            assert!(sizes.iter().all(|&n| n % b == 0 && n <= 16) && sizes.iter().sum::<usize>() == policy.channels, "case {case}: sizes {sizes:?}");
            assert!(merged.block_size > b && merged.block_size == *sizes.iter().max().unwrap(), "case {case}: sizes {sizes:?}");
            if sizes.iter().any(|&n| n != merged.block_size) || merged.blocks.iter().any(|blk| blk.groups.len() > MAX_GROUPS) {
                // (blocks of two sizes, or more groups than a policy's block may
                // have: the channel engine's tests take these)
                continue;
            }
            merged_some += 1;
            merged.validate().unwrap_or_else(|e| panic!("case {case}: the merged policy is invalid: {e}"));
            let (shape, codes) = random_codes(&mut rng, &policy);
            let plain = Codec::with_engine(&policy, Engine::Plain).expect("codec");
            let wide = Codec::with_engine(&merged, Engine::Plain).expect("codec");
            let words = plain.compress(&codes, &shape).expect("compresses");
            assert_eq!(wide.compress(&codes, &shape).expect("compresses"), words, "case {case}: payloads differ (B = {b}, {nb} blocks)");
            let back = plain.decompress(&words, &shape).expect("decompresses");
            assert_eq!(wide.decompress(&words, &shape).expect("decompresses"), back, "case {case}: reconstructions differ (B = {b}, {nb} blocks)");
        }
        assert!(merged_some > 100, "only {merged_some} of 300 random policies merged into equal blocks");
    }

    /// What cannot merge does not: levels that would leave 16 bits, blocks
    /// that do not fit.
    #[test]
    fn policies_that_cannot_merge_are_left_alone() {
        let mut rng = StdRng::seed_from_u64(43);
        let spec = |g| PolicySpec { channels: Some(16), block_size: Some(8), grouping: Some(g), max_groups: Some(4), ..Default::default() };
        let mut p = random_policy(&mut rng, &spec(Grouping::Static));
        p.blocks.iter_mut().for_each(|blk| blk.inverse_shift = 16);
        assert_eq!(merged(&p, 16).map(|m| m.parts), Some(vec![0..2]), "two blocks of 8, 8 groups at most");
        assert!(merged(&p, 8).is_none(), "no room for two blocks");
        let mut dynamic = p.clone();
        dynamic.grouping = Grouping::Dynamic;
        assert_eq!(merged(&dynamic, 16).map(|m| m.parts), Some(vec![0..2]), "dynamic grouping");
        let mut far = p.clone();
        far.blocks[1].inverse_shift = 30;
        let coded = far.blocks[0].groups.iter().any(|g| g.levels.iter().any(|&l| !(-2..=1).contains(&l)));
        assert_eq!(merged(&far, 16).is_none(), coded, "levels times 2^14");
    }
}
