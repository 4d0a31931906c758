// Every reference model case, through the public JS API:
// every output within the case's tolerance (atol 1e-4, rtol 1e-4).
import { describe, expect, it } from 'vitest';
import {
  BeitBackbone,
  BeitForImageClassification,
  BeitForMaskedImageModeling,
  BeitForSemanticSegmentation,
  BeitModel,
  type BeitPreTrainedModel,
  Data2VecVisionForImageClassification,
  Data2VecVisionForSemanticSegmentation,
  Data2VecVisionModel,
  DPTForDepthEstimation,
} from '../ts/index.js';
import { expectClose, loadCase, namedOutputs, toTensor } from './helpers/reference.js';

const classes: Record<string, { fromPretrained(dir: string): Promise<BeitPreTrainedModel<unknown>> }> = {
  BeitModel,
  BeitForImageClassification,
  BeitForMaskedImageModeling,
  BeitForSemanticSegmentation,
  BeitBackbone,
  Data2VecVisionModel,
  Data2VecVisionForImageClassification,
  Data2VecVisionForSemanticSegmentation,
  DPTForDepthEstimation,
};

function load(className: string, dir: string) {
  const cls = classes[className];
  if (!cls) throw new Error(`no JS class for ${className}`);
  return cls.fromPretrained(dir);
}

const cases = [
  'cls_relpos_meanpool',
  'cls_relpos_other_resolution',
  'cls_abspos_clspool_noscale',
  'cls_single_label_loss',
  'cls_multi_label_loss',
  'cls_regression_loss',
  'model_shared_relpos_masked',
  'mim_shared_relpos',
  'mim_abspos_masked',
  'seg_upernet_aux',
  'backbone_fpn',
  'backbone_sequences',
  'd2v_model_relpos_masked',
  'd2v_cls_shared_relpos',
  'd2v_cls_other_resolution',
  'd2v_seg_upernet',
  'dit_rvlcdip_shaped',
  'dpt_beit_depth',
  'dpt_beit_depth_odd_grid',
  // Flax checkpoints (flax_model.msgpack only), against transformers 4.x's Flax classes.
  'flax_model_relpos_masked',
  'flax_mim_shared_relpos',
  'flax_cls_abspos_clspool',
];

describe('HF parity through the JS API', () => {
  it.each(cases)('%s', async (name) => {
    const ref = loadCase(name);
    const model = await load(ref.className, ref.dir);
    const input = (key: string) => {
      const stored = ref.inputs.get(key);
      return stored ? toTensor(stored) : undefined;
    };
    const pixelValues = input('pixel_values');
    if (!pixelValues) throw new Error(`${name} has no pixel_values`);
    const out = await model.forward({
      pixelValues,
      boolMaskedPos: input('bool_masked_pos'),
      labels: input('labels'),
      interpolatePosEncoding: ref.forward.interpolate_pos_encoding ?? false,
      outputHiddenStates: true,
      outputAttentions: true,
    });
    const got = namedOutputs(out as unknown as Record<string, unknown>);
    expect([...got.keys()].sort()).toEqual([...ref.expected.keys()].sort());
    for (const [key, want] of ref.expected) {
      const output = got.get(key);
      if (!output) throw new Error(`${name}: no output ${key}`);
      expectClose(key, output, want, ref.tolerance.atol, ref.tolerance.rtol);
    }
    await model.dispose();
  });
});
