#!/usr/bin/env cwl-runner
# evaluate.cwl with GPUs for the submission (opt-in: a CUDA requirement fails on a host without a GPU).
cwlVersion: v1.2
class: Workflow
label: run one submission image on GPUs, validate and score its predictions
doc: |
  The same steps as evaluate.cwl; the submission step asks for `gpus` GPUs (cwltool:CUDARequirement:
  Docker gets --gpus=N, Singularity --nv). The checks (check.cwl) ask for none. With Toil on one host,
  parallel jobs all see the same GPUs under Docker: run them with --singularity, or on a batch system
  that pins devices (SLURM's --gres sets CUDA_VISIBLE_DEVICES per job).
$namespaces:
  cwltool: http://commonwl.org/cwltool#
requirements:
  SubworkflowFeatureRequirement: {}
  InlineJavascriptRequirement: {}
inputs:
  test: Directory
  train: Directory?
  template: File
  gold: File
  time_limit:
    type: int
    default: 172800
  entrypoint:
    type: string
    default: /opt/ra2/run.sh
  cores:
    type: int
    default: 1
  gpus:
    type: int
    default: 1
steps:
  submission:
    run: submission.cwl
    hints:
      cwltool:CUDARequirement:
        cudaVersionMin: "11.4"
        cudaComputeCapability: "3.0"
        cudaDeviceCountMin: $(inputs.gpus)
        cudaDeviceCountMax: $(inputs.gpus)
    in:
      test: test
      train: train
      time_limit: time_limit
      entrypoint: entrypoint
      cores: cores
      gpus: gpus
    out: [predictions, log, stderr_log]
  check:
    run: check.cwl
    when: $(inputs.predictions !== null)
    in:
      predictions: submission/predictions
      template: template
      gold: gold
    out: [validation, valid, scores, score_report]
outputs:
  predictions:
    type: File?
    outputSource: submission/predictions
  log:
    type: File
    outputSource: submission/log
  stderr_log:
    type: File
    outputSource: submission/stderr_log
  validation:
    type: File?
    outputSource: check/validation
  valid:
    type: boolean?
    outputSource: check/valid
  scores:
    type: File?
    outputSource: check/scores
