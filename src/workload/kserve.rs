//! `serving.kserve.io/v1beta1 InferenceService`: the predictor, one group of `minReplicas`
//! pods (KServe's default is 1; 0 scales to zero when idle, and one pod is what must fit when
//! it scales up, so at least 1 is counted). The predictor is a pod spec inline
//! (`spec.predictor.containers`, `nodeSelector`, ...) whose `model` (a container: the model
//! format, runtime arguments, resources) is one more app container (KServe
//! `pkg/apis/serving/v1beta1/predictor.go`, PredictorSpec). The transformer and explainer,
//! CPU components in practice, are not read.

use crate::json::Object;

use super::fields::{self, Errors};
use super::podspec::{self, Scale};
use super::{ExtractConfig, PodGroup};

const PREDICTOR: &str = "/spec/predictor";

pub(super) fn groups(root: &Object<'_>, cfg: &ExtractConfig, errs: &mut Errors) -> Vec<PodGroup> {
    let Some(spec) = fields::required_object(root, "spec", "", errs) else {
        return Vec::new();
    };
    let Some(predictor) = fields::required_object(spec, "predictor", "/spec", errs) else {
        return Vec::new();
    };
    let replicas = fields::count(predictor, "minReplicas", PREDICTOR, 1, errs).max(1);
    let scale = Scale::replicas(replicas, 1, format!("{PREDICTOR}/minReplicas"));
    vec![podspec::group("InferenceService", scale, predictor, PREDICTOR, Some("model"), cfg, errs)]
}
