#!/usr/bin/env cwl-runner
# The organisers' checks of one submission's output: validate it, then, when valid, score it.
cwlVersion: v1.2
class: Workflow
label: validate a predictions file, then score it if valid
requirements:
  InlineJavascriptRequirement: {}
inputs:
  predictions: File
  template: File
  gold: File
steps:
  validate:
    run: validate.cwl
    in:
      predictions: predictions
      template: template
    out: [report, valid]
  score:
    run: score.cwl
    when: $(inputs.valid)
    in:
      predictions: predictions
      gold: gold
      valid: validate/valid
    out: [scores, report]
outputs:
  validation:
    type: File
    outputSource: validate/report
  valid:
    type: boolean
    outputSource: validate/valid
  scores:
    type: File?
    outputSource: score/scores
  score_report:
    type: File?
    outputSource: score/report
