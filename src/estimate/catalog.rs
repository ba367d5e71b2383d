//! The built-in GPU catalog and name lookup: `builtin_gpus()` lists the GPUs vramgate knows
//! (device memory as the driver reports it, dense tensor-core FLOP/s from NVIDIA datasheets,
//! and a default on-demand price per GPU-hour with its source and date), and `GpuCatalog`
//! resolves user-written names and GPU Feature Discovery `nvidia.com/gpu.product` labels to
//! those entries, merges config-file overrides, and suggests near names on a miss.
//!
//! Memory figures are in bytes and are what CUDA reports as the device total
//! (`torch.cuda.get_device_properties(i).total_memory`, i.e. `cudaMemGetInfo` total) where we
//! know it; where only the `nvidia-smi` total is known that is used instead and the comment
//! says so (`nvidia-smi` reports a few hundred MiB more than CUDA on recent drivers, e.g.
//! 81559 MiB vs 81079 MiB on an H100 SXM). FLOP/s are dense (no 2:4 sparsity), tensor-core,
//! FP32 accumulate. Prices are per GPU (instance price divided by its GPU count) and go stale:
//! a config file can override any entry (`GpuCatalog::merge`).

use super::gpu::GpuSpec;

const MIB: u64 = 1 << 20;
const GIB: f64 = (1u64 << 30) as f64;

fn strs(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_string()).collect()
}

/// The GPUs vramgate knows out of the box. Every number carries its source in a comment.
pub fn builtin_gpus() -> Vec<GpuSpec> {
    // Datasheets (all FLOP/s below are the datasheets' dense figures; where a datasheet gives
    // only "with sparsity" numbers they are halved):
    const V100_SHEET: &str = "NVIDIA Tesla V100 datasheet (images.nvidia.com/content/technologies/volta/pdf/volta-v100-datasheet-update-us-1165301-r5.pdf), SXM2 column";
    const T4_SHEET: &str = "NVIDIA T4 datasheet (www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/tesla-t4/t4-tensor-core-datasheet-951643.pdf)";
    const A10G_SHEET: &str = "NVIDIA A10G spec as published by AWS/NVIDIA for EC2 G5 (no public NVIDIA datasheet), tabulated in Baseten 'NVIDIA A10 vs A10G for ML model inference' (www.baseten.co/blog/nvidia-a10-vs-a10g-for-ml-model-inference/)";
    const L4_SHEET: &str = "NVIDIA L4 datasheet (www.nvidia.com/en-us/data-center/l4/), sparse figures halved";
    const L40S_SHEET: &str = "NVIDIA L40S datasheet (www.nvidia.com/en-us/data-center/l40s/), dense column";
    const A100_SHEET: &str = "NVIDIA A100 datasheet (www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf)";
    const H100_SHEET: &str = "NVIDIA H100 Tensor Core GPU datasheet (resources.nvidia.com/en-us-tensor-core/nvidia-tensor-core-gpu-datasheet) and H100 architecture whitepaper (dense figures)";
    const H200_SHEET: &str =
        "NVIDIA H200 datasheet (www.nvidia.com/en-us/data-center/h200/), H200 SXM column, sparse figures halved";
    const B200_SHEET: &str = "NVIDIA HGX B200 spec table (www.nvidia.com/en-us/data-center/hgx/), 8-GPU totals divided by 8, sparse figures halved";
    const ADA_SHEET: &str = "NVIDIA Ada Lovelace GPU architecture whitepaper v2.02 (images.nvidia.com/aem-dam/Solutions/geforce/ada/nvidia-ada-gpu-architecture.pdf), Appendix A, RTX 4090, FP32-accumulate dense";

    // Prices: AWS EC2 on-demand Linux, us-east-1 (aws.amazon.com/ec2/pricing/on-demand/), the
    // list prices in force 2025-05, i.e. before AWS's June 2025 P4/P5 price cut; GPUs AWS does
    // not rent are priced from the named provider's public price page.
    const AWS_DATE: &str = "2025-05";

    vec![
        GpuSpec {
            name: "V100-16GB".into(),
            aliases: strs(&["V100-SXM2-16GB"]),
            gfd_products: strs(&["Tesla-V100-SXM2-16GB"]),
            // CUDA total 16160 MiB: PyTorch/YOLOv5 Colab log "Tesla V100-SXM2-16GB, 16160MiB"
            // (15.78 GiB total capacity); public logs, not measured by us.
            memory_bytes: 16_160 * MIB,
            // V100 SXM2 datasheet: no bf16 support.
            dense_bf16_flops: 0.0,
            // V100 SXM2 datasheet: 125 TFLOPS tensor performance (fp16).
            dense_fp16_flops: 125e12,
            dense_fp8_flops: 0.0,
            // V100 SXM2 datasheet: 15.7 TFLOPS single precision.
            dense_fp32_flops: 15.7e12,
            bf16_supported: false,
            fp8_supported: false,
            // AWS p3.16xlarge $24.48/h ÷ 8 GPUs (= p3.2xlarge $3.06/h for 1 GPU).
            usd_per_hour: 24.48 / 8.0,
            price_source: "AWS EC2 on-demand us-east-1, p3.16xlarge $24.48/h / 8 GPUs".into(),
            price_date: AWS_DATE.into(),
            spec_source: V100_SHEET.into(),
        },
        GpuSpec {
            name: "V100-32GB".into(),
            aliases: strs(&["V100-SXM2-32GB"]),
            gfd_products: strs(&["Tesla-V100-SXM2-32GB"]),
            // CUDA total 32510 MiB (PyTorch "31.75 GiB total capacity"); public logs.
            memory_bytes: 32_510 * MIB,
            dense_bf16_flops: 0.0,
            // Same V100 SXM2 datasheet figures as the 16 GB part: 125 TFLOPS fp16, 15.7 fp32.
            dense_fp16_flops: 125e12,
            dense_fp8_flops: 0.0,
            dense_fp32_flops: 15.7e12,
            bf16_supported: false,
            fp8_supported: false,
            // AWS p3dn.24xlarge (8x V100-SXM2-32GB) $31.212/h ÷ 8.
            usd_per_hour: 31.212 / 8.0,
            price_source: "AWS EC2 on-demand us-east-1, p3dn.24xlarge $31.212/h / 8 GPUs".into(),
            price_date: AWS_DATE.into(),
            spec_source: V100_SHEET.into(),
        },
        GpuSpec {
            name: "T4".into(),
            aliases: strs(&["T4-16GB"]),
            gfd_products: strs(&["Tesla-T4"]),
            // CUDA total 15102 MiB: PyTorch/YOLOv5 Colab log "Tesla T4, 15102MiB"
            // (14.75 GiB total capacity; nvidia-smi shows 15360MiB); public logs.
            memory_bytes: 15_102 * MIB,
            // T4 datasheet: Turing has no bf16.
            dense_bf16_flops: 0.0,
            // T4 datasheet: 65 TFLOPS mixed precision (fp16/fp32).
            dense_fp16_flops: 65e12,
            dense_fp8_flops: 0.0,
            // T4 datasheet: 8.1 TFLOPS single precision.
            dense_fp32_flops: 8.1e12,
            bf16_supported: false,
            fp8_supported: false,
            // AWS g4dn.12xlarge (4x T4) $3.912/h ÷ 4.
            usd_per_hour: 3.912 / 4.0,
            price_source: "AWS EC2 on-demand us-east-1, g4dn.12xlarge $3.912/h / 4 GPUs".into(),
            price_date: AWS_DATE.into(),
            spec_source: T4_SHEET.into(),
        },
        GpuSpec {
            name: "A10G".into(),
            aliases: strs(&["A10G-24GB"]),
            gfd_products: strs(&["NVIDIA-A10G"]),
            // CUDA total ≈22732 MiB (PyTorch "22.20 GiB total capacity"; nvidia-smi shows
            // 23028MiB); public logs, not measured by us.
            memory_bytes: 22_732 * MIB,
            // A10G spec (via Baseten table): 70 TFLOPS bf16 / fp16 tensor, 35 TFLOPS fp32
            // (the A10, not sold on AWS, is 125 TFLOPS tensor).
            dense_bf16_flops: 70e12,
            dense_fp16_flops: 70e12,
            dense_fp8_flops: 0.0,
            dense_fp32_flops: 35e12,
            bf16_supported: true,
            fp8_supported: false,
            // AWS g5.48xlarge (8x A10G) $16.288/h ÷ 8.
            usd_per_hour: 16.288 / 8.0,
            price_source: "AWS EC2 on-demand us-east-1, g5.48xlarge $16.288/h / 8 GPUs".into(),
            price_date: AWS_DATE.into(),
            spec_source: A10G_SHEET.into(),
        },
        GpuSpec {
            name: "L4".into(),
            aliases: strs(&["L4-24GB"]),
            gfd_products: strs(&["NVIDIA-L4"]),
            // nvidia-smi total 23034MiB (e.g. Colab / GCP g2 L4); CUDA reports somewhat less.
            memory_bytes: 23_034 * MIB,
            // L4 datasheet: bf16 242 TFLOPS and fp16 242 TFLOPS with sparsity -> 121 dense.
            dense_bf16_flops: 121e12,
            dense_fp16_flops: 121e12,
            // L4 datasheet: fp8 485 TFLOPS with sparsity -> 242.5 dense.
            dense_fp8_flops: 242.5e12,
            // L4 datasheet: fp32 30.3 TFLOPS.
            dense_fp32_flops: 30.3e12,
            bf16_supported: true,
            fp8_supported: true,
            // AWS g6.48xlarge (8x L4) $13.3504/h ÷ 8.
            usd_per_hour: 13.3504 / 8.0,
            price_source: "AWS EC2 on-demand us-east-1, g6.48xlarge $13.3504/h / 8 GPUs".into(),
            price_date: AWS_DATE.into(),
            spec_source: L4_SHEET.into(),
        },
        GpuSpec {
            name: "L40S".into(),
            aliases: strs(&["L40S-48GB"]),
            gfd_products: strs(&["NVIDIA-L40S"]),
            // nvidia-smi total 46068MiB; CUDA reports somewhat less.
            memory_bytes: 46_068 * MIB,
            // L40S datasheet: bf16 / fp16 362.05 TFLOPS dense (733 with sparsity).
            dense_bf16_flops: 362.05e12,
            dense_fp16_flops: 362.05e12,
            // L40S datasheet: fp8 733 TFLOPS dense (1466 with sparsity).
            dense_fp8_flops: 733e12,
            // L40S datasheet: fp32 91.6 TFLOPS.
            dense_fp32_flops: 91.6e12,
            bf16_supported: true,
            fp8_supported: true,
            // AWS g6e.48xlarge (8x L40S) $30.13118/h ÷ 8.
            usd_per_hour: 30.131_18 / 8.0,
            price_source: "AWS EC2 on-demand us-east-1, g6e.48xlarge $30.13118/h / 8 GPUs"
                .into(),
            price_date: AWS_DATE.into(),
            spec_source: L40S_SHEET.into(),
        },
        GpuSpec {
            name: "A100-40GB".into(),
            aliases: strs(&["A100-SXM4-40GB", "A100-PCIe-40GB", "A100-40G"]),
            gfd_products: strs(&[
                "NVIDIA-A100-SXM4-40GB",
                "NVIDIA-A100-PCIE-40GB",
                // Label values from pre-R470 drivers, whose device name had no "NVIDIA" prefix.
                "A100-SXM4-40GB",
                "A100-PCIE-40GB",
            ]),
            // CUDA total 40536 MiB: PyTorch/YOLOv5 log "A100-SXM4-40GB, 40536MiB"
            // (39.59 GiB total capacity); public logs, not measured by us.
            memory_bytes: 40_536 * MIB,
            // A100 datasheet: bf16 / fp16 tensor 312 TFLOPS dense (624 with sparsity).
            dense_bf16_flops: 312e12,
            dense_fp16_flops: 312e12,
            // Ampere has no fp8.
            dense_fp8_flops: 0.0,
            // A100 datasheet: fp32 19.5 TFLOPS.
            dense_fp32_flops: 19.5e12,
            bf16_supported: true,
            fp8_supported: false,
            // AWS p4d.24xlarge (8x A100-SXM4-40GB) $32.7726/h ÷ 8.
            usd_per_hour: 32.7726 / 8.0,
            price_source: "AWS EC2 on-demand us-east-1, p4d.24xlarge $32.7726/h / 8 GPUs".into(),
            price_date: AWS_DATE.into(),
            spec_source: A100_SHEET.into(),
        },
        GpuSpec {
            name: "A100-80GB".into(),
            aliases: strs(&["A100-SXM4-80GB", "A100-PCIe-80GB", "A100-80GB-PCIe", "A100-80G"]),
            gfd_products: strs(&[
                "NVIDIA-A100-SXM4-80GB",
                "NVIDIA-A100-80GB-PCIe",
                // Label value from early drivers for HGX A100 80GB.
                "A100-SXM-80GB",
            ]),
            // CUDA total: A100-SXM4-80GB reports 81251 MiB (79.35 GiB), A100 80GB PCIe
            // 80994 MiB (79.10 GiB) in public logs; this entry covers both, so the smaller.
            memory_bytes: 80_994 * MIB,
            // A100 datasheet: same tensor throughput as the 40 GB part.
            dense_bf16_flops: 312e12,
            dense_fp16_flops: 312e12,
            dense_fp8_flops: 0.0,
            dense_fp32_flops: 19.5e12,
            bf16_supported: true,
            fp8_supported: false,
            // AWS p4d-class price, $32.7726/h ÷ 8 = $4.10/GPU-h, which is the ~$33/h per
            // 8x A100-80GB node that the Llama 2 paper's cost example assumes. (The actual
            // 80 GB instance, p4de.24xlarge, lists $40.9657/h ÷ 8 = $5.12.)
            usd_per_hour: 32.7726 / 8.0,
            price_source: "AWS EC2 on-demand us-east-1, p4d.24xlarge $32.7726/h / 8 GPUs (p4d-class price; p4de.24xlarge with 80 GB A100s lists $40.9657/h)".into(),
            price_date: AWS_DATE.into(),
            spec_source: A100_SHEET.into(),
        },
        GpuSpec {
            name: "H100-80GB".into(),
            aliases: strs(&[
                "H100",
                "H100-SXM",
                "H100-SXM5",
                "H100-SXM-80GB",
                "H100-SXM5-80GB",
                "h100-80gb-hbm3",
            ]),
            gfd_products: strs(&["NVIDIA-H100-80GB-HBM3"]),
            // Measured: CUDA total_memory of an H100 SXM5 80GB HBM3 = 85_017_493_504 bytes
            // (81079 MiB; nvidia-smi shows 81559MiB).
            memory_bytes: 85_017_493_504,
            // H100 whitepaper: SXM5 bf16 / fp16 dense 989.4 TFLOPS (datasheet 1979 sparse).
            dense_bf16_flops: 989.4e12,
            dense_fp16_flops: 989.4e12,
            // H100 whitepaper: SXM5 fp8 dense 1978.9 TFLOPS (datasheet 3958 sparse).
            dense_fp8_flops: 1978.9e12,
            // H100 datasheet: SXM fp32 67 TFLOPS.
            dense_fp32_flops: 67e12,
            bf16_supported: true,
            fp8_supported: true,
            // AWS p5.48xlarge (8x H100-SXM5-80GB) $98.32/h ÷ 8 (list price before the
            // June 2025 cut to $55.04/h).
            usd_per_hour: 98.32 / 8.0,
            price_source: "AWS EC2 on-demand us-east-1, p5.48xlarge $98.32/h / 8 GPUs (before the 2025-06 P5 price cut)".into(),
            price_date: AWS_DATE.into(),
            spec_source: H100_SHEET.into(),
        },
        GpuSpec {
            name: "H100-PCIe".into(),
            aliases: strs(&["H100-PCIe-80GB"]),
            gfd_products: strs(&["NVIDIA-H100-PCIe"]),
            // Not measured: 80 GB HBM2e, assumed to report the same CUDA total as the SXM part
            // (81079 MiB).
            memory_bytes: 81_079 * MIB,
            // H100 whitepaper: PCIe bf16 / fp16 dense 756 TFLOPS (datasheet 1513 sparse).
            dense_bf16_flops: 756e12,
            dense_fp16_flops: 756e12,
            // H100 whitepaper: PCIe fp8 dense 1513 TFLOPS (datasheet 3026 sparse).
            dense_fp8_flops: 1513e12,
            // H100 datasheet: PCIe fp32 51 TFLOPS.
            dense_fp32_flops: 51e12,
            bf16_supported: true,
            fp8_supported: true,
            // Lambda on-demand 1x H100 PCIe, $2.49/GPU-h (lambda.ai/pricing). AWS has no
            // H100 PCIe instance.
            usd_per_hour: 2.49,
            price_source: "Lambda Cloud on-demand, 1x H100 PCIe $2.49/h".into(),
            price_date: "2025-05".into(),
            spec_source: H100_SHEET.into(),
        },
        GpuSpec {
            name: "H200".into(),
            aliases: strs(&["H200-141GB", "H200-SXM", "H200-SXM-141GB"]),
            gfd_products: strs(&["NVIDIA-H200"]),
            // nvidia-smi total 143771MiB for a 141 GB H200 SXM; CUDA reports somewhat less.
            memory_bytes: 143_771 * MIB,
            // H200 datasheet: bf16 / fp16 1979 TFLOPS sparse -> 989.4 dense (same die and
            // clocks as H100 SXM).
            dense_bf16_flops: 989.4e12,
            dense_fp16_flops: 989.4e12,
            // H200 datasheet: fp8 3958 TFLOPS sparse -> 1978.9 dense.
            dense_fp8_flops: 1978.9e12,
            // H200 datasheet: fp32 67 TFLOPS.
            dense_fp32_flops: 67e12,
            bf16_supported: true,
            fp8_supported: true,
            // CoreWeave on-demand HGX H200 (8 GPUs) $50.44/h ÷ 8 (www.coreweave.com/pricing).
            usd_per_hour: 50.44 / 8.0,
            price_source: "CoreWeave on-demand, 8x HGX H200 node $50.44/h / 8 GPUs".into(),
            price_date: "2025-05".into(),
            spec_source: H200_SHEET.into(),
        },
        GpuSpec {
            name: "B200".into(),
            aliases: strs(&["B200-180GB", "B200-SXM"]),
            gfd_products: strs(&["NVIDIA-B200"]),
            // nvidia-smi total 183359MiB for a B200 (180 GB HBM3e); CUDA reports somewhat less.
            memory_bytes: 183_359 * MIB,
            // HGX B200: fp16 / bf16 36 PFLOPS sparse for 8 GPUs -> 2.25 PFLOPS dense per GPU.
            dense_bf16_flops: 2.25e15,
            dense_fp16_flops: 2.25e15,
            // HGX B200: fp8 72 PFLOPS sparse for 8 GPUs -> 4.5 PFLOPS dense per GPU.
            dense_fp8_flops: 4.5e15,
            // HGX B200: fp32 600 TFLOPS for 8 GPUs -> 75 TFLOPS per GPU.
            dense_fp32_flops: 75e12,
            bf16_supported: true,
            fp8_supported: true,
            // CoreWeave on-demand HGX B200 (8 GPUs) $68.80/h ÷ 8 (www.coreweave.com/pricing).
            usd_per_hour: 68.80 / 8.0,
            price_source: "CoreWeave on-demand, 8x HGX B200 node $68.80/h / 8 GPUs".into(),
            price_date: "2025-05".into(),
            spec_source: B200_SHEET.into(),
        },
        GpuSpec {
            name: "RTX-4090".into(),
            aliases: strs(&["GeForce-RTX-4090", "4090"]),
            gfd_products: strs(&["NVIDIA-GeForce-RTX-4090"]),
            // nvidia-smi total 24564MiB (24 GB GDDR6X); CUDA reports somewhat less.
            memory_bytes: 24_564 * MIB,
            // Ada whitepaper: bf16 / fp16 tensor with FP32 accumulate 165.2 TFLOPS dense
            // (GeForce runs FP32-accumulate at half the FP16-accumulate rate).
            dense_bf16_flops: 165.2e12,
            dense_fp16_flops: 165.2e12,
            // Ada whitepaper: fp8 tensor with FP32 accumulate 330.3 TFLOPS dense.
            dense_fp8_flops: 330.3e12,
            // Ada whitepaper: fp32 82.6 TFLOPS.
            dense_fp32_flops: 82.6e12,
            bf16_supported: true,
            fp8_supported: true,
            // RunPod Secure Cloud on-demand 1x RTX 4090 $0.69/h (www.runpod.io/pricing).
            usd_per_hour: 0.69,
            price_source: "RunPod Secure Cloud on-demand, 1x RTX 4090 $0.69/h".into(),
            price_date: "2025-05".into(),
            spec_source: ADA_SHEET.into(),
        },
    ]
}

/// Canonical lookup key: lower-case, with `-`, `_` and spaces removed and one leading
/// `nvidia` or `tesla` stripped, so `NVIDIA-A100_80GB` and `a100-80gb` are the same key.
fn normalize(s: &str) -> String {
    let squashed: String = s.chars().filter(|c| !matches!(c, '-' | '_' | ' ')).flat_map(char::to_lowercase).collect();
    for prefix in ["nvidia", "tesla"] {
        if let Some(rest) = squashed.strip_prefix(prefix) {
            return rest.to_string();
        }
    }
    squashed
}

/// Form-factor tokens in a product name (`SXM4`, `PCIe`); see [`GpuCatalog::find_gfd_product`].
fn form_factor(token: &str) -> Option<&'static str> {
    let t = token.to_ascii_lowercase();
    if t == "pcie" {
        Some("pcie")
    } else if t.starts_with("sxm") && t[3..].chars().all(|c| c.is_ascii_digit()) {
        Some("sxm")
    } else {
        None
    }
}

/// Memory-technology tokens in a product name (`HBM3`, `HBM3e`, `HBM2e`).
fn is_memory_tech(token: &str) -> bool {
    matches!(token.to_ascii_lowercase().as_str(), "hbm2" | "hbm2e" | "hbm3" | "hbm3e")
}

/// A `<n>GB` memory-size token, e.g. `80GB` -> 80.
fn memory_gb(token: &str) -> Option<u64> {
    let t = token.to_ascii_lowercase();
    let digits = t.strip_suffix("gb")?;
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn tokens(s: &str) -> impl Iterator<Item = &str> {
    s.split(['-', '_', ' ']).filter(|t| !t.is_empty())
}

/// A product name with its form-factor and memory-technology tokens removed, normalised;
/// plus the form factors it named and the memory size it named.
fn strip_product(s: &str) -> (String, Vec<&'static str>, Option<u64>) {
    let mut kept = Vec::new();
    let mut forms = Vec::new();
    let mut gb = None;
    for t in tokens(s) {
        if let Some(f) = form_factor(t) {
            forms.push(f);
        } else if is_memory_tech(t) {
            // dropped
        } else {
            if let Some(n) = memory_gb(t) {
                gb = Some(n);
            }
            kept.push(t);
        }
    }
    (normalize(&kept.concat()), forms, gb)
}

/// Edit distance (insertions, deletions, substitutions) between two strings, by `char`.
pub(crate) fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = substitute.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Ranks `candidates` (a display name and its lookup keys, already normalised the same way as
/// `query`) by closeness to `query`: candidates with a key that contains the query, or that
/// the query contains (keys of 4+ characters), first; then by edit distance to the nearest
/// key; returns up to 3 distinct display names. Candidates farther than `max(3, len/2)` edits
/// and not related by containment are dropped, so nonsense input gets no suggestions.
pub(crate) fn closest<'a>(query: &str, candidates: impl IntoIterator<Item = (&'a str, Vec<String>)>) -> Vec<&'a str> {
    if query.is_empty() {
        return Vec::new();
    }
    let limit = 3.max(query.chars().count() / 2);
    let mut scored: Vec<(bool, usize, &'a str)> = candidates
        .into_iter()
        .filter_map(|(display, keys)| {
            let related =
                keys.iter().any(|k| k.contains(query) || (k.chars().count() >= 4 && query.contains(k.as_str())));
            let dist = keys.iter().map(|k| levenshtein(query, k)).min()?;
            (related || dist <= limit).then_some((!related, dist, display))
        })
        .collect();
    scored.sort();
    let mut out: Vec<&'a str> = Vec::new();
    for (_, _, d) in scored {
        if !out.contains(&d) {
            out.push(d);
        }
        if out.len() == 3 {
            break;
        }
    }
    out
}

/// The GPUs vramgate can resolve: the built-in list, possibly merged with config overrides.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuCatalog {
    gpus: Vec<GpuSpec>,
}

impl Default for GpuCatalog {
    /// The built-in catalog.
    fn default() -> Self {
        Self::builtin()
    }
}

impl GpuCatalog {
    /// The built-in catalog, [`builtin_gpus`].
    pub fn builtin() -> Self {
        Self::from_specs(builtin_gpus())
    }

    /// A catalog of exactly these specs, in this order.
    pub fn from_specs(gpus: Vec<GpuSpec>) -> Self {
        Self { gpus }
    }

    /// Applies config-file entries: an override whose name equals an existing entry's name
    /// (case-insensitively, and ignoring `-`, `_`, spaces and a leading `nvidia`/`tesla`, as
    /// [`find`](Self::find) does) replaces that entry in place; any other is appended.
    pub fn merge(&mut self, overrides: Vec<GpuSpec>) {
        for spec in overrides {
            let key = normalize(&spec.name);
            match self.gpus.iter_mut().find(|g| normalize(&g.name) == key) {
                Some(existing) => *existing = spec,
                None => self.gpus.push(spec),
            }
        }
    }

    /// Every entry, in catalog order.
    pub fn all(&self) -> &[GpuSpec] {
        &self.gpus
    }

    /// The entry whose name or alias matches `name` case-insensitively, ignoring `-`, `_`,
    /// spaces and a leading `nvidia`/`tesla` (`a100-80gb`, `A100_80GB`, `nvidia-a100-80gb`
    /// all find `A100-80GB`). Names are tried before aliases, so an appended override named
    /// like a built-in alias wins over that alias.
    pub fn find(&self, name: &str) -> Option<&GpuSpec> {
        // The canonical spelling (what configs and resolved plans carry) needs no normalising.
        if let Some(g) = self.gpus.iter().find(|g| g.name == name) {
            return Some(g);
        }
        let key = normalize(name);
        if key.is_empty() {
            return None;
        }
        self.gpus
            .iter()
            .find(|g| normalize(&g.name) == key)
            .or_else(|| self.gpus.iter().find(|g| g.aliases.iter().any(|a| normalize(a) == key)))
    }

    /// The entry for a GPU Feature Discovery `nvidia.com/gpu.product` node label value.
    ///
    /// Rule, in order; the first step that matches decides:
    /// 1. the label equals one of an entry's `gfd_products` exactly, then case-insensitively;
    /// 2. the label matches an entry's name, alias or `gfd_products` under the
    ///    [`find`](Self::find) normalisation;
    /// 3. form-factor tokens (`SXM`, `SXM2`, `SXM4`, `SXM5`, `PCIe`) and memory-technology
    ///    tokens (`HBM2`, `HBM2e`, `HBM3`, `HBM3e`) are removed from the label and from every
    ///    entry's names, aliases and `gfd_products`, and the results compared normalised. A
    ///    candidate is kept only if (a) when the label names a form factor and the entry's
    ///    names mention any form factor, one of them is the label's, and (b) when the label
    ///    has a `<n>GB` token, the entry's `memory_bytes` is within 10 % of n GiB. The match
    ///    is accepted only if exactly one entry is left.
    ///
    /// Anything else is `None`: the function never guesses. In particular labels that GFD
    /// decorates for MIG (`…-MIG-1g.10gb`) or time-slicing (`…-SHARED`) return `None`, since
    /// such a slice does not have the whole GPU's memory or compute.
    pub fn find_gfd_product(&self, label: &str) -> Option<&GpuSpec> {
        if let Some(g) = self
            .gpus
            .iter()
            .find(|g| g.gfd_products.iter().any(|p| p == label))
            .or_else(|| self.gpus.iter().find(|g| g.gfd_products.iter().any(|p| p.eq_ignore_ascii_case(label))))
        {
            return Some(g);
        }

        let key = normalize(label);
        if key.is_empty() {
            return None;
        }
        if let Some(g) = self.gpus.iter().find(|g| keys(g).any(|k| normalize(k) == key)) {
            return Some(g);
        }

        let (stripped, label_forms, label_gb) = strip_product(label);
        if stripped.is_empty() {
            return None;
        }
        let mut found: Option<&GpuSpec> = None;
        for g in &self.gpus {
            if !keys(g).any(|k| strip_product(k).0 == stripped) {
                continue;
            }
            let entry_forms: Vec<&str> = keys(g).flat_map(|k| strip_product(k).1).collect();
            if !label_forms.is_empty()
                && !entry_forms.is_empty()
                && !label_forms.iter().any(|f| entry_forms.contains(f))
            {
                continue;
            }
            if let Some(gb) = label_gb {
                let ratio = g.memory_bytes as f64 / GIB / gb as f64;
                if !(0.9..=1.1).contains(&ratio) {
                    continue;
                }
            }
            if found.is_some() {
                return None; // ambiguous
            }
            found = Some(g);
        }
        found
    }

    /// Up to 3 catalog names closest to `name` (for "unknown GPU, did you mean …" errors):
    /// names whose name or alias contains the normalised query first, then by edit distance.
    pub fn suggest(&self, name: &str) -> Vec<String> {
        let query = normalize(name);
        closest(&query, self.gpus.iter().map(|g| (g.name.as_str(), keys(g).map(normalize).collect())))
            .into_iter()
            .map(str::to_string)
            .collect()
    }
}

/// An entry's name, aliases and GFD product labels.
fn keys(g: &GpuSpec) -> impl Iterator<Item = &str> {
    std::iter::once(g.name.as_str())
        .chain(g.aliases.iter().map(String::as_str))
        .chain(g.gfd_products.iter().map(String::as_str))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat() -> GpuCatalog {
        GpuCatalog::builtin()
    }

    #[test]
    fn builtin_entries_are_consistent() {
        // Which GPUs the table holds, and their figures, are in tests/golden/catalog.json.
        let gpus = builtin_gpus();
        for g in &gpus {
            assert!(g.memory_bytes > 8 << 30, "{}", g.name);
            assert!(g.dense_fp16_flops > 0.0, "{}", g.name);
            assert!(g.dense_fp32_flops > 0.0, "{}", g.name);
            assert!(g.dense_fp16_flops > g.dense_fp32_flops, "{}", g.name);
            assert_eq!(g.bf16_supported, g.dense_bf16_flops > 0.0, "{}", g.name);
            assert_eq!(g.fp8_supported, g.dense_fp8_flops > 0.0, "{}", g.name);
            if g.fp8_supported {
                assert!(g.dense_fp8_flops >= g.dense_bf16_flops, "{}", g.name);
            }
            assert!(g.usd_per_hour > 0.0, "{}", g.name);
            assert!(!g.price_source.is_empty(), "{}", g.name);
            assert_eq!(g.price_date.len(), 7, "{}", g.name);
            assert!(!g.spec_source.is_empty(), "{}", g.name);
            assert!(!g.gfd_products.is_empty(), "{}", g.name);
        }
    }

    #[test]
    fn lookup_keys_are_unambiguous() {
        let gpus = builtin_gpus();
        let mut seen = std::collections::HashMap::new();
        for g in &gpus {
            for k in keys(g) {
                if let Some(other) = seen.insert(normalize(k), g.name.clone()) {
                    assert_eq!(other, g.name, "key {k} is shared");
                }
            }
        }
    }

    #[test]
    fn known_figures() {
        // The figures themselves are in tests/golden/catalog.json; here, what follows from them.
        let c = cat();
        let h100 = c.find("H100").unwrap();
        assert_eq!(h100.name, "H100-80GB");
        let a100 = c.find("A100-80GB").unwrap();
        assert!((a100.usd_per_hour - 4.10).abs() < 0.01);
        // 8 GPUs cost about the $33/h the Llama 2 paper's example assumes.
        assert!((a100.usd_per_hour * 8.0 - 33.0).abs() < 0.5);
        let v100 = c.find("V100-16GB").unwrap();
        assert!(!v100.bf16_supported);
        let t4 = c.find("t4").unwrap();
        assert!(!t4.bf16_supported);
        for name in ["H100-80GB", "H200", "B200", "L4", "L40S", "RTX-4090"] {
            assert!(c.find(name).unwrap().fp8_supported, "{name}");
        }
        for name in ["A100-80GB", "A100-40GB", "V100-32GB", "T4", "A10G"] {
            assert!(!c.find(name).unwrap().fp8_supported, "{name}");
        }
    }

    #[test]
    fn find_normalises() {
        let c = cat();
        for q in ["a100-80gb", "A100_80GB", "nvidia-a100-80gb", "NVIDIA A100 80GB", "A100-SXM4-80GB"] {
            assert_eq!(c.find(q).map(|g| g.name.as_str()), Some("A100-80GB"), "{q}");
        }
        for q in ["H100", "h100-sxm", "h100-80gb-hbm3", "nvidia_h100"] {
            assert_eq!(c.find(q).map(|g| g.name.as_str()), Some("H100-80GB"), "{q}");
        }
        assert_eq!(c.find("tesla-t4").unwrap().name, "T4");
        assert_eq!(c.find("h100 pcie").unwrap().name, "H100-PCIe");
        assert!(c.find("A100").is_none(), "ambiguous between 40 and 80 GB");
        assert!(c.find("").is_none());
        assert!(c.find("nvidia").is_none());
        assert!(c.find("MI300X").is_none());
    }

    #[test]
    fn gfd_labels_resolve() {
        let c = cat();
        let cases = [
            ("NVIDIA-H100-80GB-HBM3", "H100-80GB"),
            ("NVIDIA-A100-SXM4-80GB", "A100-80GB"),
            ("NVIDIA-A100-SXM4-40GB", "A100-40GB"),
            ("NVIDIA-A100-PCIE-40GB", "A100-40GB"),
            ("NVIDIA-A100-80GB-PCIe", "A100-80GB"),
            ("A100-SXM4-40GB", "A100-40GB"),
            ("Tesla-V100-SXM2-16GB", "V100-16GB"),
            ("Tesla-V100-SXM2-32GB", "V100-32GB"),
            ("Tesla-T4", "T4"),
            ("NVIDIA-A10G", "A10G"),
            ("NVIDIA-L4", "L4"),
            ("NVIDIA-L40S", "L40S"),
            ("NVIDIA-H100-PCIe", "H100-PCIe"),
            ("NVIDIA-H200", "H200"),
            ("NVIDIA-B200", "B200"),
            ("NVIDIA-GeForce-RTX-4090", "RTX-4090"),
            // case-insensitive exact
            ("nvidia-h100-80gb-hbm3", "H100-80GB"),
            // suffix stripping, unique, memory consistent
            ("NVIDIA-H200-141GB-HBM3e", "H200"),
            ("NVIDIA-H100-SXM5-80GB-HBM3", "H100-80GB"),
            ("NVIDIA-H100-PCIe-80GB-HBM2e", "H100-PCIe"),
            // normalised match on a catalog name or alias
            ("NVIDIA-H100-SXM5-80GB", "H100-80GB"),
            ("NVIDIA-H100-PCIe-80GB", "H100-PCIe"),
            ("A100-80GB", "A100-80GB"),
        ];
        for (label, want) in cases {
            assert_eq!(c.find_gfd_product(label).map(|g| g.name.as_str()), Some(want), "{label}");
        }
    }

    #[test]
    fn gfd_never_guesses() {
        let c = cat();
        for label in [
            "NVIDIA-A100-SXM4-40GB-MIG-1g.5gb",
            "NVIDIA-A100-SXM4-80GB-SHARED",
            "NVIDIA-H100-NVL",
            "NVIDIA-H200-NVL",
            // ambiguous once HBM2e is dropped: SXM or PCIe
            "NVIDIA-H100-80GB-HBM2e",
            "NVIDIA-H200-96GB",
            // names a form factor the entry does not have
            "Tesla-V100-PCIE-16GB",
            "NVIDIA-A100",
            "",
            "NVIDIA",
        ] {
            assert!(c.find_gfd_product(label).is_none(), "{label}");
        }
    }

    #[test]
    fn gfd_memory_must_agree() {
        let mut x = cat().find("A100-40GB").unwrap().clone();
        x.name = "X-80GB".into();
        x.aliases = vec![];
        x.gfd_products = vec![];
        let c = GpuCatalog::from_specs(vec![x]);
        // Only a 40 GiB entry is named like this label: memory disagrees, so no match.
        assert!(c.find_gfd_product("NVIDIA-X-80GB-HBM3").is_none());
        assert!(c.find_gfd_product("NVIDIA-X-80GB").is_some());
    }

    #[test]
    fn merge_replaces_and_appends() {
        let mut c = cat();
        let n = c.all().len();
        let mut h100 = c.find("H100-80GB").unwrap().clone();
        h100.name = "h100-80gb".into();
        h100.usd_per_hour = 2.0;
        let mut mi = h100.clone();
        mi.name = "MI300X".into();
        mi.aliases = vec![];
        mi.gfd_products = vec![];
        c.merge(vec![h100, mi]);
        assert_eq!(c.all().len(), n + 1);
        assert_eq!(c.find("H100").unwrap().usd_per_hour, 2.0);
        assert_eq!(c.find("mi300x").unwrap().name, "MI300X");
        assert_eq!(c.all().last().unwrap().name, "MI300X");
    }

    #[test]
    fn names_beat_aliases() {
        let mut c = cat();
        let mut other = c.find("T4").unwrap().clone();
        other.name = "H100".into();
        other.aliases = vec![];
        other.gfd_products = vec![];
        c.merge(vec![other]);
        assert_eq!(c.find("H100").unwrap().name, "H100");
        assert_eq!(c.find("H100-SXM").unwrap().name, "H100-80GB");
    }

    #[test]
    fn from_specs_is_exact() {
        let c = GpuCatalog::from_specs(vec![]);
        assert!(c.all().is_empty());
        assert!(c.find("H100").is_none());
        assert!(c.suggest("H100").is_empty());
    }

    #[test]
    fn suggestions() {
        let c = cat();
        // Names containing the query come first, then the closest others, 3 at most.
        assert_eq!(c.suggest("A100"), ["A100-40GB", "A100-80GB", "A10G"]);
        assert_eq!(c.suggest("H10O")[0], "H100-80GB");
        assert_eq!(c.suggest("L40")[0], "L40S");
        // At most 3, closest first.
        assert_eq!(c.suggest("x"), ["B200", "H100-80GB", "H200"]);
        assert!(c.suggest("completely-unrelated-accelerator").is_empty());
    }

    #[test]
    fn levenshtein_basics() {
        assert_eq!(levenshtein("", ""), 0);
        assert_eq!(levenshtein("abc", ""), 3);
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("flaw", "lawn"), 2);
        assert_eq!(levenshtein("h100", "h100"), 0);
        assert_eq!(levenshtein("é", "e"), 1);
    }
}
