"""Parts shared by several models (anomalib's `models/components/`): per-scale patch input
(`snippet_patches`, SSRL and MSIP), staged training
(`StagedMILModule`, `load_stage`) and its schedules (SSRL step by step, MSIP's two stages);
UR-DMU's GL-MHSA encoder (`gl_transformer`, UR-DMU and BN-WVAD), per-crop training instances
(`crops`, `crop_instance_module`) and authors' checkpoints (`official_checkpoints`)."""
