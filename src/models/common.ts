// What every model constructor takes, and the initialisation walks torchvision applies after building.
import { defaultRng, type Rng, type Tensor } from "../engine/index.js";
import { BatchNorm2d, Conv2d, init, Linear, type Module } from "../nn/index.js";

export interface ModelOptions {
  /** Number of classes. */
  nc: number;
  /** Generator for the initial weights and dropout masks (default: the engine's global one, see manualSeed). */
  rng?: Rng;
  /** Dropout before the classifier's last layer (the model's own default when absent). */
  dropout?: number;
}

/** A model from an image batch [N, C, H, W] to logits [N, nc]. */
export type Classifier = Module<[Tensor], Tensor>;

export function checkNc(model: string, nc: number): void {
  if (!Number.isInteger(nc) || nc < 1) throw new Error(`kiln: ${model}: nc (the number of classes) must be a positive integer, got ${nc}`);
}

export function rngOf(options: ModelOptions): Rng {
  return options.rng ?? defaultRng();
}

/**
 * torchvision's init loop for ResNet and MobileNetV2: convolutions
 * kaiming_normal_(fan_out, relu) with zero bias, BatchNorm weight 1 and bias 0,
 * and (MobileNetV2 only, `linearStd` set) Linear weights N(0, std²) with zero bias.
 */
export function torchvisionInit(model: Module<never, unknown>, rng: Rng, linearStd?: number): void {
  for (const [, m] of model.namedModules()) {
    if (m instanceof Conv2d) {
      init.kaimingNormalFanOut_(m.weight, rng);
      if (m.bias) init.constant_(m.bias, 0);
    } else if (m instanceof BatchNorm2d) {
      init.constant_(m.weight, 1);
      init.constant_(m.bias, 0);
    } else if (m instanceof Linear && linearStd !== undefined) {
      init.normal_(m.weight, 0, linearStd, rng);
      if (m.bias) init.constant_(m.bias, 0);
    }
  }
}
