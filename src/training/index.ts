/** bd3lm/training: the training objective (NELBO, loss and gradients) and the trainer. */
export { nelboEval, lossAndGrads, trainingLoss, type Algo, type LossOptions, type LossResult } from './objective.js';
export { train, TrainingError, type TrainOptions, type TrainResult } from './trainer.js';
