// Labels from ROI Manager: the current image's ROIs -> a 16-bit label map next to it,
// following the images/ + masks/ convention (images/NAME.tif -> masks/NAME.tif and
// masks/NAME.zip, the ROI set to edit later). Argument (optional): image=PATH.
imagePath = pyfijiArg("image", "");
if (imagePath == "")
    imagePath = pyfijiImagePath();
folder = File.getParent(imagePath);
root = folder;
if (File.getName(folder) == "images")
    root = File.getParent(folder);
labels = pyfijiSaveLabels(imagePath, root);
print("pyfiji-dl: label map " + labels);
