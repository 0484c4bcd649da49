"""Parts shared by several models (anomalib's `models/components/`): staged training
(`StagedMILModule`, `load_stage`) and its schedules (SSRL step by step, MSIP's two stages)."""
