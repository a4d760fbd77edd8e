#!/usr/bin/env cwl-runner
# The organisers' loop for one submission image: run it on the test folder, validate its
# predictions against the template, and score them against the gold file when they are valid.
cwlVersion: v1.2
class: Workflow
label: run one submission image, validate and score its predictions
doc: |
  The submission step is submission.cwl (its image from the job's `cwltool:overrides`); the checks
  are check.cwl (ra2 validate, then ra2 score --json). A submission that writes no predictions.csv
  ends with `predictions`, `validation` and `scores` null; one that fails or runs past its time
  limit fails the workflow, and the runner reports it. GPUs: evaluate-gpu.cwl.
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
steps:
  submission:
    run: submission.cwl
    in:
      test: test
      train: train
      time_limit: time_limit
      entrypoint: entrypoint
      cores: cores
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
