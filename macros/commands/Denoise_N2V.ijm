// Denoise (Noise2Void): apply a trained model to the current image, as it is on screen;
// opens the restored 32-bit image. Options: model=FOLDER output=FOLDER (default:
// 'restored' next to the image's file), image=PATH (a file instead of the current image).
pyfijiRestore("n2v", "Denoise (Noise2Void)");
