#!/usr/bin/env cwl-runner
# `ra2 validate` on a submission's predictions: the validator's report, and whether the file is valid.
cwlVersion: v1.2
class: CommandLineTool
label: ra2 validate a predictions file against the template
doc: |
  Exit 0 (valid) and 1 (invalid) both succeed: an invalid file is a result, reported in `report`
  and `valid`, not a failed step. Runs in the project's image (`ra2-submission`, or the image the
  job's overrides name) or, with the runner's --no-container, with the `ra2` on PATH.
requirements:
  InlineJavascriptRequirement: {}
hints:
  DockerRequirement:
    dockerPull: ra2-submission
baseCommand: [env]
arguments: [HOME=$(runtime.tmpdir), ra2, validate]
inputs:
  predictions:
    type: File
    inputBinding: {position: 1}
  template:
    type: File
    inputBinding: {position: 2, prefix: --template}
successCodes: [0, 1]
stdout: validation.txt
outputs:
  report:
    type: stdout
  valid:
    type: boolean
    outputBinding:
      outputEval: $(runtime.exitCode == 0)
