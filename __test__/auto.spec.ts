// The Auto classes pick the model class from config.json's model_type, as transformers' do, and
// refuse a task a model type has no class for.
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  AutoBackbone,
  AutoImageProcessor,
  AutoModel,
  AutoModelForDepthEstimation,
  AutoModelForImageClassification,
  AutoModelForMaskedImageModeling,
  AutoModelForSemanticSegmentation,
  BeitBackbone,
  BeitForImageClassification,
  BeitForMaskedImageModeling,
  BeitForSemanticSegmentation,
  BeitImageProcessor,
  BeitModel,
  Data2VecVisionForImageClassification,
  Data2VecVisionForSemanticSegmentation,
  Data2VecVisionModel,
  DPTForDepthEstimation,
} from '../ts/index.js';
import { expectClose, loadCase, referenceDir, toTensor } from './helpers/reference.js';

const caseDir = (name: string) => loadCase(name).dir;

/** The case's checkpoint with config.json's model_type replaced. */
function withModelType(name: string, modelType: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'beit-auto-'));
  cpSync(caseDir(name), dir, { recursive: true });
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  config.model_type = modelType;
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}

describe('Auto classes', () => {
  it.each([
    [AutoModel, 'model_shared_relpos_masked', BeitModel],
    [AutoModel, 'd2v_model_relpos_masked', Data2VecVisionModel],
    [AutoModelForImageClassification, 'cls_relpos_meanpool', BeitForImageClassification],
    [AutoModelForImageClassification, 'dit_rvlcdip_shaped', BeitForImageClassification],
    [AutoModelForImageClassification, 'd2v_cls_shared_relpos', Data2VecVisionForImageClassification],
    [AutoModelForSemanticSegmentation, 'seg_upernet_aux', BeitForSemanticSegmentation],
    [AutoModelForSemanticSegmentation, 'd2v_seg_upernet', Data2VecVisionForSemanticSegmentation],
    [AutoModelForMaskedImageModeling, 'mim_shared_relpos', BeitForMaskedImageModeling],
    [AutoBackbone, 'backbone_fpn', BeitBackbone],
    [AutoModelForDepthEstimation, 'dpt_beit_depth', DPTForDepthEstimation],
  ] as const)('%#: %s loads %s as its model type says', async (auto, name, cls) => {
    const model = await auto.fromPretrained(caseDir(name));
    expect(model).toBeInstanceOf(cls);
    expect(model.constructor).toBe(cls);
    await model.dispose();
  });

  it('gives the model that computes the reference', async () => {
    const ref = loadCase('d2v_cls_shared_relpos');
    const model = await AutoModelForImageClassification.fromPretrained(ref.dir);
    const pixels = ref.inputs.get('pixel_values');
    const logits = ref.expected.get('logits');
    if (!pixels || !logits) throw new Error('the case lacks pixel_values or logits');
    const out = await model.forward({ pixelValues: toTensor(pixels) });
    expectClose('logits', out.logits, logits, ref.tolerance.atol, ref.tolerance.rtol);
    await model.dispose();
  });

  it('refuses a task the model type has no class for, naming both', async () => {
    await expect(
      AutoModelForMaskedImageModeling.fromPretrained(caseDir('d2v_model_relpos_masked')),
    ).rejects.toMatchObject({
      code: 'E_CONFIG',
      message: expect.stringMatching(
        /AutoModelForMaskedImageModeling: model type "data2vec-vision" .*supported: "beit"/,
      ),
    });
  });

  it('refuses a model type outside the BEiT architecture', async () => {
    await expect(AutoModel.fromPretrained(withModelType('model_shared_relpos_masked', 'vit'))).rejects.toMatchObject({
      code: 'E_CONFIG',
      message: expect.stringMatching(/model_type is "vit", expected "beit" or "data2vec-vision"/),
    });
    await expect(
      AutoModelForDepthEstimation.fromPretrained(withModelType('model_shared_relpos_masked', 'dpt')),
    ).rejects.toMatchObject({
      code: 'E_CONFIG',
      message: expect.stringMatching(/no backbone_config.*Intel\/dpt-large/),
    });
    await expect(AutoModelForImageClassification.fromPretrained(caseDir('dpt_beit_depth'))).rejects.toMatchObject({
      code: 'E_CONFIG',
      message: expect.stringMatching(/model type "dpt" has no class for this task/),
    });
  });

  it('AutoImageProcessor reads preprocessor_config.json', async () => {
    const dir = join(referenceDir, 'processor', 'cls224_bilinear');
    const file = JSON.parse(readFileSync(join(dir, 'preprocessor_config.json'), 'utf8'));
    const processor = await AutoImageProcessor.fromPretrained(dir);
    expect(processor).toBeInstanceOf(BeitImageProcessor);
    expect(processor.config.resample).toBe(file.resample);
    expect(processor.config.size).toEqual(file.size);
  });
});
