//! BeitConfig: HF's defaults, derived fields, and errors that name the bad field.

use beit::{BeitConfig, BeitError};

fn config_error(json: &str) -> String {
    match BeitConfig::from_json_str(json) {
        Err(e @ BeitError::Config(_)) => e.to_string(),
        other => panic!("expected a config error for {json}, got {other:?}"),
    }
}

#[test]
fn an_empty_config_has_hf_defaults() {
    let cfg = BeitConfig::from_json_str("{}").unwrap();
    assert_eq!(
        (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads),
        (768, 12, 12)
    );
    assert_eq!((cfg.image_size, cfg.patch_size, cfg.vocab_size), (224, 16, 8192));
    assert_eq!(cfg.layer_norm_eps, 1e-12);
    assert_eq!(cfg.layer_scale_init_value, 0.1);
    assert!(cfg.use_mean_pooling && !cfg.use_relative_position_bias);
    assert_eq!(cfg.pool_scales, vec![1, 2, 3, 6]);
    assert_eq!(cfg.semantic_loss_ignore_index, 255);
    assert_eq!(cfg.num_labels(), 2);
    assert_eq!(cfg.label(1), "LABEL_1");
    assert_eq!(cfg.stage_names.len(), 13);
    assert_eq!(cfg.out_features.as_deref(), Some(&["stage12".to_string()][..]));
    assert_eq!(cfg.out_indices.as_deref(), Some(&[12][..]));
}

#[test]
fn out_features_and_out_indices_follow_each_other() {
    let cfg = BeitConfig::from_json_str(r#"{"num_hidden_layers": 4, "out_indices": [1, -1]}"#).unwrap();
    assert_eq!(cfg.out_features.unwrap(), vec!["stage1", "stage4"]);
    let cfg =
        BeitConfig::from_json_str(r#"{"num_hidden_layers": 4, "out_features": ["stem", "stage2"]}"#).unwrap();
    assert_eq!(cfg.out_indices.unwrap(), vec![0, 2]);
    assert!(config_error(r#"{"num_hidden_layers": 4, "out_indices": [7]}"#).contains("out_indices"));
    assert!(config_error(r#"{"num_hidden_layers": 4, "out_features": ["stage9"]}"#).contains("stage9"));
}

#[test]
fn labels_are_completed_from_id2label_or_num_labels() {
    let cfg = BeitConfig::from_json_str(r#"{"id2label": {"0": "cat", "1": "dog", "2": "fox"}}"#).unwrap();
    assert_eq!(cfg.num_labels(), 3);
    assert_eq!(cfg.label2id.unwrap()["fox"], 2);
    let cfg = BeitConfig::from_json_str(r#"{"num_labels": 5}"#).unwrap();
    assert_eq!(cfg.label(4), "LABEL_4");
    assert!(config_error(r#"{"num_labels": 5, "id2label": {"0": "a"}}"#).contains("num_labels"));
}

#[test]
fn unknown_fields_round_trip() {
    let cfg = BeitConfig::from_json_str(r#"{"transformers_version": "5.18.0", "custom": [1, 2]}"#).unwrap();
    let again = BeitConfig::from_json_str(&cfg.to_json_string()).unwrap();
    assert_eq!(cfg, again);
    assert_eq!(again.extra["custom"], serde_json::json!([1, 2]));
}

#[test]
fn bad_values_name_the_field() {
    let cases = [
        (
            r#"{"hidden_size": 30, "num_attention_heads": 4}"#,
            "not divisible by num_attention_heads",
        ),
        (r#"{"patch_size": 0}"#, "patch_size"),
        (r#"{"num_attention_heads": 0}"#, "num_attention_heads"),
        (
            r#"{"image_size": 8, "patch_size": 16}"#,
            "patch_size (16) is larger than image_size",
        ),
        (r#"{"model_type": "vit"}"#, "model_type"),
        (r#"{"hidden_act": "mish"}"#, "hidden_act"),
        (r#"{"layer_norm_eps": -1}"#, "layer_norm_eps"),
        (r#"{"problem_type": "ranking"}"#, "problem_type"),
        (r#"{"id2label": {"zero": "a"}}"#, "id2label"),
        (r#"{"hidden_size": "big"}"#, "hidden_size"),
        ("[1, 2", "not valid"),
    ];
    for (json, expected) in cases {
        let msg = config_error(json);
        assert!(msg.contains(expected), "{json}: {msg}");
    }
}

/// The model types of the BEiT architecture are read, and the type says where a head checkpoint
/// keeps the base model's weights; others are refused with what is supported.
#[test]
fn beit_and_data2vec_vision_configs_are_read_with_their_weight_prefix() {
    for (model_type, prefix) in [("beit", "beit"), ("data2vec-vision", "data2vec_vision")] {
        let cfg = BeitConfig::from_json_str(&format!(r#"{{"model_type": "{model_type}"}}"#)).unwrap();
        assert_eq!(cfg.base_model_prefix(), prefix);
    }
    let msg = config_error(r#"{"model_type": "data2vec-audio"}"#);
    assert!(msg.contains(r#"expected "beit" or "data2vec-vision""#), "{msg}");
}

#[test]
fn a_directory_without_config_json_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = BeitConfig::from_pretrained(dir.path()).unwrap_err();
    assert_eq!(err.code(), "E_CONFIG");
    assert!(err.to_string().contains("no config.json"));
}

/// A DPT config on a BEiT backbone (Intel/dpt-beit-*'s layout).
fn dpt_json(dpt: &str, backbone: &str) -> String {
    format!(
        r#"{{"model_type": "dpt", {dpt} "backbone_config": {{"model_type": "beit", "num_hidden_layers": 4,
        "out_indices": [1, 2, 3, 4], "reshape_hidden_states": false {backbone}}}}}"#
    )
}

/// DPT's config is read as its BEiT backbone's with the neck and head fields beside, takes its
/// weights from `backbone.`, and is written back in HF's layout.
#[test]
fn a_dpt_config_is_its_beit_backbone_plus_the_dpt_part() {
    let cfg = BeitConfig::from_json_str(&dpt_json(
        r#""readout_type": "add", "fusion_hidden_size": 64,"#,
        "",
    ))
    .unwrap();
    assert_eq!(cfg.model_type, "beit");
    assert_eq!(cfg.base_model_prefix(), "backbone");
    let dpt = cfg.dpt.as_deref().unwrap();
    assert_eq!((dpt.readout_type.as_str(), dpt.fusion_hidden_size), ("add", 64));
    assert_eq!(dpt.neck_hidden_sizes, [96, 192, 384, 768]);
    assert_eq!(dpt.head_index(), 3);
    let written: serde_json::Value = serde_json::from_str(&cfg.to_json_string()).unwrap();
    assert_eq!(written["model_type"], "dpt");
    assert_eq!(written["backbone_config"]["model_type"], "beit");
    assert_eq!(
        written["backbone_config"]["out_indices"],
        serde_json::json!([1, 2, 3, 4])
    );
    assert_eq!(BeitConfig::from_json_str(&cfg.to_json_string()).unwrap(), cfg);
}

/// The DPT variants beit-node does not run, and DPT values HF cannot build, are refused by name.
#[test]
fn dpt_configs_without_a_beit_backbone_or_with_bad_values_name_what_is_wrong() {
    let cases = [
        (r#"{"model_type": "dpt"}"#.to_string(), "no backbone_config"),
        (r#"{"model_type": "dpt", "is_hybrid": true}"#.into(), "DPT-hybrid"),
        (
            r#"{"model_type": "dpt", "backbone_config": {"model_type": "swinv2"}}"#.into(),
            r#"model type Some("swinv2")"#,
        ),
        (dpt_json(r#""readout_type": "mean","#, ""), "readout_type"),
        (
            dpt_json(r#""reassemble_factors": [4, 2, 1.5, 0.5],"#, ""),
            "reassemble_factors contains 1.5",
        ),
        (
            dpt_json(r#""neck_hidden_sizes": [96, 192, 384],"#, ""),
            "one reassemble factor per neck stage",
        ),
        (dpt_json(r#""head_in_index": 4,"#, ""), "head_in_index"),
        (
            dpt_json(r#""add_projection": true, "fusion_hidden_size": 64,"#, ""),
            "add_projection",
        ),
        (
            dpt_json("", r#", "hidden_size": 30, "num_attention_heads": 4"#),
            "in DPT's backbone_config",
        ),
        (
            dpt_json("", r#", "add_fpn": true"#),
            "reshape_hidden_states and add_fpn",
        ),
    ];
    for (json, expected) in cases {
        let msg = config_error(&json);
        assert!(msg.contains(expected), "{json}: {msg}");
    }
}
