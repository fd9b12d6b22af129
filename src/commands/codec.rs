//! `actcomp compress` and `actcomp decompress`.

use actcomp_golden::codec::Codec;
use actcomp_golden::container::{header_bytes, Container};
use actcomp_golden::input_map::{from_codes, to_codes};
use actcomp_golden::policy::Policy;
use actcomp_golden::tensor::Tensor;
use actcomp_golden::GoldenError;
use anyhow::Result;
use std::path::Path;

/// Compresses a tensor with the golden codec into a container.
pub fn compress_tensor(policy: &Policy, t: &Tensor, name: &str) -> Result<Container> {
    let codec = Codec::new(policy)?;
    let codes = to_codes(t, &policy.input, name)?;
    let words = codec.compress_parallel(&codes, &t.shape)?;
    Ok(Container {
        dtype: t.dtype(),
        shape: t.shape.clone(),
        fingerprint: policy.fingerprint(),
        word_bits: policy.word_bits,
        words,
    })
}

/// Decompresses a container made with `policy`.
pub fn decompress_container(policy: &Policy, c: &Container, name: &str) -> Result<Tensor> {
    c.check_policy(policy, name)?;
    let codec = Codec::new(policy)?;
    let codes = codec.decompress_parallel(&c.words, &c.shape).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    Ok(from_codes(&codes, c.shape.clone(), &policy.input)?)
}

/// `actcomp compress`.
pub fn compress(policy: &Path, input: &Path, output: &Path, json: bool) -> Result<()> {
    let p = Policy::load(policy)?;
    let t = Tensor::load_npy(input)?;
    let c = compress_tensor(&p, &t, &input.display().to_string())?;
    let bytes = c.to_bytes();
    std::fs::write(output, &bytes).map_err(|e| GoldenError::Io { path: output.display().to_string(), source: e })?;
    let values = t.len() as f64;
    let payload_bits = c.words.len() as f64 * c.word_bits as f64;
    let header = header_bytes(t.shape.len());
    if json {
        println!(
            "{}",
            serde_json::json!({
                "input": input, "output": output, "values": t.len(),
                "file_bytes": bytes.len(), "header_bytes": header,
                "payload_bpv": payload_bits / values,
                "file_bpv": bytes.len() as f64 * 8.0 / values,
            })
        );
    } else {
        println!(
            "{} -> {}: {} values, {} bytes ({:.4} payload bits/value, {:.4} with the {}-byte header)",
            input.display(),
            output.display(),
            t.len(),
            bytes.len(),
            payload_bits / values,
            bytes.len() as f64 * 8.0 / values,
            header
        );
    }
    Ok(())
}

/// `actcomp decompress`.
pub fn decompress(policy: &Path, input: &Path, output: &Path, json: bool) -> Result<()> {
    let p = Policy::load(policy)?;
    let name = input.display().to_string();
    let bytes = std::fs::read(input).map_err(|e| GoldenError::Io { path: name.clone(), source: e })?;
    let c = Container::from_bytes(&bytes, &name)?;
    let t = decompress_container(&p, &c, &name)?;
    t.save_npy(output)?;
    if json {
        println!("{}", serde_json::json!({"input": input, "output": output, "shape": t.shape, "dtype": t.dtype()}));
    } else {
        println!("{} -> {}: shape {:?}, {:?}", input.display(), output.display(), t.shape, t.dtype());
    }
    Ok(())
}
