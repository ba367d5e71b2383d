//! The built-in GPU table: the GPUs vramgate knows out of the box (device memory as the
//! driver reports it, dense tensor-core FLOP/s from NVIDIA datasheets, and a default on-demand
//! price per GPU-hour with its source and date). Data only; the lookup is in `catalog.rs`.
//!
//! Memory figures are in bytes and are what CUDA reports as the device total
//! (`torch.cuda.get_device_properties(i).total_memory`, i.e. `cudaMemGetInfo` total) where we
//! know it; where only the `nvidia-smi` total is known that is used instead and the comment
//! says so (`nvidia-smi` reports a few hundred MiB more than CUDA on recent drivers, e.g.
//! 81559 MiB vs 81079 MiB on an H100 SXM). FLOP/s are dense (no 2:4 sparsity), tensor-core,
//! FP32 accumulate. Prices are per GPU (instance price divided by its GPU count) and go stale:
//! a config file can override any entry (`GpuCatalog::merge`).

use crate::estimate::gpu::GpuSpec;

const MIB: u64 = 1 << 20;

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
    // Issue 14: common GPUs missing before.
    const A6000_SHEET: &str = "NVIDIA RTX A6000 datasheet (www.nvidia.com/content/dam/en-zz/Solutions/design-visualization/quadro-product-literature/proviz-print-nvidia-rtx-a6000-datasheet-us-nvidia-1454980-r9-web.pdf), sparse figures halved";
    const L40_SHEET: &str = "NVIDIA L40 datasheet (www.nvidia.com/en-us/data-center/l40/), sparse figures halved";
    const AMPERE_GA102_SHEET: &str = "NVIDIA Ampere GA102 GPU architecture whitepaper v2 (www.nvidia.com/content/PDF/nvidia-ampere-ga-102-gpu-architecture-whitepaper-v2.pdf), Appendix A, GeForce RTX 3090, FP32-accumulate dense";
    const H100_NVL_SHEET: &str = "NVIDIA H100 Tensor Core GPU datasheet (resources.nvidia.com/en-us-tensor-core/nvidia-tensor-core-gpu-datasheet), H100 NVL column, sparse figures halved";
    const GH200_SHEET: &str = "NVIDIA GH200 Grace Hopper Superchip datasheet (resources.nvidia.com/en-us-grace-cpu/grace-hopper-superchip), sparse figures halved";
    const MI300X_SHEET: &str = "AMD Instinct MI300X accelerator data sheet (www.amd.com/content/dam/amd/en/documents/instinct-tech-docs/data-sheets/amd-instinct-mi300x-data-sheet.pdf), dense matrix figures";
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
        // ---- issue 14: common GPUs that were missing -------------------------------------
        GpuSpec {
            name: "RTX-A6000".into(),
            aliases: strs(&["A6000", "RTX-A6000-48GB"]),
            gfd_products: strs(&["NVIDIA-RTX-A6000"]),
            // nvidia-smi total 49140MiB (48 GB GDDR6); CUDA reports somewhat less.
            memory_bytes: 49_140 * MIB,
            // RTX A6000 datasheet: bf16 / fp16 tensor 309.7 TFLOPS with sparsity -> 154.8 dense
            // (professional Ampere runs FP32 accumulate at the full rate).
            dense_bf16_flops: 154.8e12,
            dense_fp16_flops: 154.8e12,
            // Ampere: no fp8 tensor cores.
            dense_fp8_flops: 0.0,
            // RTX A6000 datasheet: fp32 38.7 TFLOPS.
            dense_fp32_flops: 38.7e12,
            bf16_supported: true,
            fp8_supported: false,
            // Lambda Cloud on-demand 1x RTX A6000 $0.80/h (lambda.ai/pricing).
            usd_per_hour: 0.80,
            price_source: "Lambda Cloud on-demand, 1x RTX A6000 $0.80/h".into(),
            price_date: "2025-05".into(),
            spec_source: A6000_SHEET.into(),
        },
        GpuSpec {
            name: "L40".into(),
            aliases: strs(&["L40-48GB"]),
            gfd_products: strs(&["NVIDIA-L40"]),
            // nvidia-smi total 46068MiB (48 GB GDDR6 with ECC on, as the L40S); CUDA reports
            // somewhat less.
            memory_bytes: 46_068 * MIB,
            // L40 datasheet: bf16 / fp16 tensor 362.1 TFLOPS with sparsity -> 181.05 dense.
            dense_bf16_flops: 181.05e12,
            dense_fp16_flops: 181.05e12,
            // L40 datasheet: fp8 724 TFLOPS with sparsity -> 362 dense.
            dense_fp8_flops: 362e12,
            // L40 datasheet: fp32 90.5 TFLOPS.
            dense_fp32_flops: 90.5e12,
            bf16_supported: true,
            fp8_supported: true,
            // CoreWeave on-demand 8x L40 $10.00/h ÷ 8, as tabulated by Deploybase, "NVIDIA L40
            // Cloud Pricing" (deploybase.ai/articles/nvidia-l40-price, 2025-06).
            usd_per_hour: 10.00 / 8.0,
            price_source: "CoreWeave on-demand, 8x L40 $10.00/h / 8 GPUs (via deploybase.ai)".into(),
            price_date: "2025-06".into(),
            spec_source: L40_SHEET.into(),
        },
        GpuSpec {
            name: "RTX-3090".into(),
            aliases: strs(&["GeForce-RTX-3090", "3090"]),
            gfd_products: strs(&["NVIDIA-GeForce-RTX-3090"]),
            // nvidia-smi total 24576MiB (24 GB GDDR6X); CUDA reports somewhat less.
            memory_bytes: 24_576 * MIB,
            // GA102 whitepaper, Appendix A: fp16 / bf16 tensor with FP32 accumulate 71 TFLOPS
            // dense (GeForce runs FP32 accumulate at half the FP16-accumulate 142).
            dense_bf16_flops: 71e12,
            dense_fp16_flops: 71e12,
            dense_fp8_flops: 0.0,
            // GA102 whitepaper: fp32 35.6 TFLOPS.
            dense_fp32_flops: 35.6e12,
            bf16_supported: true,
            fp8_supported: false,
            // RunPod Community Cloud on-demand 1x RTX 3090 $0.22/h (www.runpod.io/pricing).
            usd_per_hour: 0.22,
            price_source: "RunPod Community Cloud on-demand, 1x RTX 3090 $0.22/h".into(),
            price_date: "2025-05".into(),
            spec_source: AMPERE_GA102_SHEET.into(),
        },
        GpuSpec {
            name: "H100-NVL".into(),
            aliases: strs(&["H100-NVL-94GB"]),
            gfd_products: strs(&["NVIDIA-H100-NVL"]),
            // Not measured: 94 GB HBM3, nvidia-smi total 95830MiB; CUDA reports somewhat less.
            memory_bytes: 95_830 * MIB,
            // H100 datasheet, NVL column: bf16 / fp16 1671 TFLOPS with sparsity -> 835.5 dense.
            dense_bf16_flops: 835.5e12,
            dense_fp16_flops: 835.5e12,
            // H100 datasheet, NVL column: fp8 3341 TFLOPS with sparsity -> 1670.5 dense.
            dense_fp8_flops: 1670.5e12,
            // H100 datasheet, NVL column: fp32 60 TFLOPS.
            dense_fp32_flops: 60e12,
            bf16_supported: true,
            fp8_supported: true,
            // Azure NC40ads H100 v5 (1x H100 NVL) $6.98/h, East US (azure.microsoft.com/pricing/
            // details/virtual-machines/linux/).
            usd_per_hour: 6.98,
            price_source: "Azure pay-as-you-go East US, NC40ads H100 v5 (1x H100 NVL) $6.98/h".into(),
            price_date: "2025-05".into(),
            spec_source: H100_NVL_SHEET.into(),
        },
        GpuSpec {
            name: "GH200".into(),
            aliases: strs(&["GH200-96GB", "GH200-480GB"]),
            gfd_products: strs(&["NVIDIA-GH200-480GB"]),
            // Not measured: the Hopper GPU's 96 GB HBM3, nvidia-smi total 97871MiB (the Grace
            // CPU's LPDDR5X is not device memory).
            memory_bytes: 97_871 * MIB,
            // GH200 datasheet: bf16 / fp16 1979 TFLOPS with sparsity -> 989.5 dense.
            dense_bf16_flops: 989.5e12,
            dense_fp16_flops: 989.5e12,
            // GH200 datasheet: fp8 3958 TFLOPS with sparsity -> 1979 dense.
            dense_fp8_flops: 1979e12,
            // GH200 datasheet: fp32 67 TFLOPS.
            dense_fp32_flops: 67e12,
            bf16_supported: true,
            fp8_supported: true,
            // Lambda Cloud on-demand 1x GH200 $1.49/h (lambda.ai/pricing).
            usd_per_hour: 1.49,
            price_source: "Lambda Cloud on-demand, 1x GH200 $1.49/h".into(),
            price_date: "2025-05".into(),
            spec_source: GH200_SHEET.into(),
        },
        GpuSpec {
            name: "MI300X".into(),
            aliases: strs(&["Instinct-MI300X", "MI300X-192GB"]),
            // No GPU Feature Discovery product: AMD's GPU operator labels nodes
            // `amd.com/gpu.product-name` and its devices are `amd.com/gpu`, so vramgate never
            // pins or patches a job onto it; it is named with `vramgate.io/gpu` or `--gpu`.
            gfd_products: Vec::new(),
            // Not measured: 192 GB HBM3, rocm-smi total 196592MiB.
            memory_bytes: 196_592 * MIB,
            // MI300X data sheet: bf16 / fp16 matrix 1307.4 TFLOPS dense (2614.9 with sparsity).
            dense_bf16_flops: 1307.4e12,
            dense_fp16_flops: 1307.4e12,
            // MI300X data sheet: fp8 matrix 2614.9 TFLOPS dense.
            dense_fp8_flops: 2614.9e12,
            // MI300X data sheet: fp32 matrix 163.4 TFLOPS.
            dense_fp32_flops: 163.4e12,
            bf16_supported: true,
            fp8_supported: true,
            // Azure ND96isr MI300X v5 (8x MI300X) $48.00/h ÷ 8, East US.
            usd_per_hour: 48.00 / 8.0,
            price_source: "Azure pay-as-you-go East US, ND96isr MI300X v5 $48.00/h / 8 GPUs".into(),
            price_date: "2025-05".into(),
            spec_source: MI300X_SHEET.into(),
        },
    ]
}
