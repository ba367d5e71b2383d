//! The engine's input: one job, fully resolved (model architecture, every option, GPU count).
//!
//! Defaults follow what a job does when it says nothing: bf16 mixed precision, PyTorch AdamW,
//! full fine-tuning, SDPA attention, DDP, no offload, micro-batch 1 x 2048 tokens.

use super::model::Architecture;
use super::options::*;
use serde::{Deserialize, Serialize};

/// Where the architecture came from; a bare parameter count is only a coarse stand-in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelSource {
    Preset,
    Architecture,
    HfConfig,
    /// Only a parameter count was given; the architecture is inferred and coarse.
    ParameterCount,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// Preset name, or a label for a custom model.
    pub name: String,
    pub source: ModelSource,
    pub arch: Architecture,
    /// For `ParameterCount`: the count the user gave (the inferred shape's count differs a little).
    pub stated_params: Option<u64>,
}

impl Model {
    pub fn from_arch(name: impl Into<String>, source: ModelSource, arch: Architecture) -> Self {
        Model { name: name.into(), source, arch, stated_params: None }
    }
    /// A model known only by its parameter count.
    pub fn from_param_count(params: u64) -> Self {
        Model {
            name: format!("{}-parameter model", super::units::render_count(params as f64)),
            source: ModelSource::ParameterCount,
            arch: Architecture::from_param_count(params),
            stated_params: Some(params),
        }
    }
    /// The parameter count used for memory: the stated one where given.
    pub fn params(&self) -> u64 {
        self.stated_params.unwrap_or_else(|| self.arch.param_count())
    }
    /// Stated parameters over the architecture's own count: 1 except for a coarse model, whose
    /// inferred shape only approximates the stated count. Every per-component count is scaled by
    /// it so the parts add up to what the user said.
    pub fn params_scale(&self) -> f64 {
        self.params() as f64 / self.arch.param_count().max(1) as f64
    }
    /// Parameters one token passes through (MoE: the routed experts), scaled like [`Self::params`].
    pub fn active_params(&self) -> u64 {
        (self.arch.active_param_count() as f64 * self.params_scale()).round() as u64
    }
    pub fn is_coarse(&self) -> bool {
        self.source == ModelSource::ParameterCount
    }
}

/// Which modules carry LoRA adapters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoraTargets {
    /// q, k, v and o projections.
    Attention,
    /// Every linear layer of the decoder (PEFT `all-linear`, not the LM head).
    AllLinear,
    /// Named modules (`q_proj`, `k_proj`, `v_proj`, `o_proj`, `gate_proj`, `up_proj`, `down_proj`).
    Modules(Vec<LoraModule>),
}

/// A linear module a LoRA adapter can attach to (Hugging Face Llama names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoraModule {
    QProj,
    KProj,
    VProj,
    OProj,
    GateProj,
    UpProj,
    DownProj,
}

impl LoraModule {
    pub const ALL: [LoraModule; 7] = [
        LoraModule::QProj,
        LoraModule::KProj,
        LoraModule::VProj,
        LoraModule::OProj,
        LoraModule::GateProj,
        LoraModule::UpProj,
        LoraModule::DownProj,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            LoraModule::QProj => "q_proj",
            LoraModule::KProj => "k_proj",
            LoraModule::VProj => "v_proj",
            LoraModule::OProj => "o_proj",
            LoraModule::GateProj => "gate_proj",
            LoraModule::UpProj => "up_proj",
            LoraModule::DownProj => "down_proj",
        }
    }
    /// Parses a module name; GPT-2's names map onto the same shapes.
    pub fn parse(s: &str) -> Option<LoraModule> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "q_proj" | "q" | "query" => LoraModule::QProj,
            "k_proj" | "k" | "key" => LoraModule::KProj,
            "v_proj" | "v" | "value" => LoraModule::VProj,
            "o_proj" | "o" | "out_proj" | "dense" => LoraModule::OProj,
            "gate_proj" | "w1" => LoraModule::GateProj,
            "up_proj" | "w3" | "c_fc" | "fc1" => LoraModule::UpProj,
            "down_proj" | "w2" | "fc2" => LoraModule::DownProj,
            _ => return None,
        })
    }
    /// (in, out) features of this module in `arch`; `None` where the model has no such module
    /// (a plain MLP has no gate).
    pub fn shape(self, a: &Architecture) -> Option<(u64, u64)> {
        let h = a.hidden as u64;
        let q = a.heads as u64 * a.head_dim as u64;
        let kv = a.kv_heads as u64 * a.head_dim as u64;
        let i = a.intermediate as u64;
        Some(match self {
            LoraModule::QProj => (h, q),
            LoraModule::KProj | LoraModule::VProj => (h, kv),
            LoraModule::OProj => (q, h),
            LoraModule::GateProj if a.mlp == super::model::MlpKind::Plain => return None,
            LoraModule::GateProj | LoraModule::UpProj => (h, i),
            LoraModule::DownProj => (i, h),
        })
    }
}

impl LoraTargets {
    pub fn modules(&self) -> Vec<LoraModule> {
        match self {
            LoraTargets::Attention => vec![LoraModule::QProj, LoraModule::KProj, LoraModule::VProj, LoraModule::OProj],
            LoraTargets::AllLinear => LoraModule::ALL.to_vec(),
            LoraTargets::Modules(m) => m.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FineTuning {
    pub kind: FineTuningKind,
    pub lora_rank: u32,
    pub lora_targets: LoraTargets,
}

impl Default for FineTuning {
    fn default() -> Self {
        FineTuning { kind: FineTuningKind::Full, lora_rank: 16, lora_targets: LoraTargets::Attention }
    }
}

/// One job, fully resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub model: Model,
    pub workload: WorkloadKind,
    pub precision: Precision,
    pub optimizer: Optimizer,
    pub fine_tuning: FineTuning,
    /// Sequences per GPU per step (training), or concurrent sequences (inference).
    pub micro_batch_size: u32,
    /// Tokens per sequence (training), or context length (inference).
    pub sequence_length: u32,
    pub activation_checkpointing: bool,
    pub attention: Attention,
    pub strategy: Strategy,
    /// FSDP hybrid-shard group size (GPUs that share one full copy of the model states).
    pub hybrid_shard_group: u32,
    pub tensor_parallel: u32,
    pub pipeline_parallel: u32,
    pub offload: Offload,
    pub kv_cache_dtype: KvCacheDtype,
    pub weight_quantization: WeightQuantization,
    /// Tokens the whole training run processes.
    pub training_tokens: Option<f64>,
    /// Model FLOPs utilisation assumed for time and cost.
    pub mfu: f64,
    /// GPUs the job spreads over (data x tensor x pipeline).
    pub gpus: u32,
    /// The data-parallel framework's buffer knobs (framework defaults unless the job says).
    #[serde(default)]
    pub comm: CommKnobs,
}

/// Knobs that size the data-parallel frameworks' runtime buffers, each at its framework's
/// default (docs/memory-model.md, "Multi-GPU runtime buffers"). Only knobs that change memory
/// are here: DDP's `bucket_cap_mb` splits the same bytes into more or fewer buckets, and
/// DeepSpeed's `allgather_bucket_size` only chunks an all-gather into the existing 16-bit
/// parameters, so neither is a knob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CommKnobs {
    /// DDP `gradient_as_bucket_view` (torch/nn/parallel/distributed.py, `DistributedDataParallel
    /// .__init__`: default False, so the reducer's buckets hold a second copy of every gradient).
    pub gradient_as_bucket_view: bool,
    /// DeepSpeed ZeRO `reduce_bucket_size` in elements (deepspeed/runtime/zero/config.py,
    /// `reduce_bucket_size`: default 5e8): the 16-bit gradient bucket stage 1-3 allocate.
    pub zero_reduce_bucket_elements: u64,
    /// DeepSpeed ZeRO-3 `stage3_prefetch_bucket_size` in elements (default 5e7).
    pub zero3_prefetch_bucket_elements: u64,
    /// DeepSpeed ZeRO-3 `stage3_max_live_parameters` (default 1e9): gathered parameters kept
    /// alive at once, at most.
    pub zero3_max_live_parameters: u64,
    /// FSDP layers all-gathered ahead of the one computing (FSDP2 `fully_shard` prefetches one
    /// in forward and backward; FSDP1 `limit_all_gathers=True` allows two in flight): 0 to 8.
    pub fsdp_prefetch_layers: u32,
}

impl Default for CommKnobs {
    fn default() -> Self {
        CommKnobs {
            gradient_as_bucket_view: false,
            zero_reduce_bucket_elements: 500_000_000,
            zero3_prefetch_bucket_elements: 50_000_000,
            zero3_max_live_parameters: 1_000_000_000,
            fsdp_prefetch_layers: 1,
        }
    }
}

/// Default MFU: Llama 2 7B's 184,320 A100 GPU-hours for 2T tokens (Touvron et al. 2023,
/// Table 2) imply 6·6.74e9·2e12 / (184,320 h · 3600 s · 312e12 FLOP/s) = 39% of dense bf16 peak.
pub const DEFAULT_MFU: f64 = 0.40;

impl Job {
    /// A job with every option at its default.
    pub fn new(model: Model) -> Job {
        Job {
            model,
            workload: WorkloadKind::Training,
            precision: Precision::Bf16Mixed,
            optimizer: Optimizer::AdamW,
            fine_tuning: FineTuning::default(),
            micro_batch_size: 1,
            sequence_length: 2048,
            activation_checkpointing: false,
            attention: Attention::Sdpa,
            strategy: Strategy::Ddp,
            hybrid_shard_group: 8,
            tensor_parallel: 1,
            pipeline_parallel: 1,
            offload: Offload::None,
            kv_cache_dtype: KvCacheDtype::Auto,
            weight_quantization: WeightQuantization::None,
            training_tokens: None,
            mfu: DEFAULT_MFU,
            gpus: 1,
            comm: CommKnobs::default(),
        }
    }

    /// Data-parallel degree: GPUs / (tensor x pipeline).
    pub fn data_parallel(&self) -> u32 {
        (self.gpus / (self.tensor_parallel.max(1) * self.pipeline_parallel.max(1))).max(1)
    }

    /// Trainable parameters (all of them, or the LoRA adapters).
    pub fn trainable_params(&self) -> u64 {
        match self.fine_tuning.kind {
            FineTuningKind::Full => self.model.params(),
            FineTuningKind::Lora | FineTuningKind::Qlora => self.lora_params(),
        }
    }

    /// LoRA adapter parameters: rank · (in + out) per targeted module per layer (Hu et al. 2021).
    pub fn lora_params(&self) -> u64 {
        let a = &self.model.arch;
        let r = self.fine_tuning.lora_rank as u64;
        let per_layer: u64 =
            self.fine_tuning.lora_targets.modules().iter().filter_map(|m| m.shape(a)).map(|(i, o)| r * (i + o)).sum();
        per_layer * a.layers as u64
    }
}
