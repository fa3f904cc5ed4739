import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;

import org.tensorflow.SavedModelBundle;
import org.tensorflow.Tensor;
import org.tensorflow.TensorFlow;
import org.tensorflow.framework.MetaGraphDef;
import org.tensorflow.framework.SignatureDef;
import org.tensorflow.framework.TensorInfo;

/**
 * Runs TensorFlow SavedModels the way the CSBDeep and StarDist Fiji plugins do, with
 * their runtime, TensorFlow for Java 1.15 (libtensorflow + libtensorflow_jni):
 * {@code SavedModelBundle.load(dir, "serve")}, the {@code serving_default} signature read
 * from the bundle's MetaGraphDef (org.tensorflow:proto), its first input fed and its first
 * output fetched by operation name (CSBDeep_fiji TensorFlowNetwork / TensorFlowRunner).
 *
 * <p>Usage: {@code RunSavedModelTF1 MODEL_DIR INPUT.npy OUTPUT.npy [MODEL_DIR INPUT.npy OUTPUT.npy ...]}.
 * Prints one JSON line per model: {@code ok}, load and run milliseconds, the signature's
 * tensor names, or the error the runtime gave. Exit status 0 once every model was tried.
 */
public final class RunSavedModelTF1 {
    private static final String TAG = "serve";
    private static final String SIGNATURE = "serving_default";

    public static void main(String[] args) throws Exception {
        if (args.length == 0 || args.length % 3 != 0) {
            System.err.println("usage: RunSavedModelTF1 MODEL_DIR INPUT.npy OUTPUT.npy [...]");
            System.exit(2);
        }
        for (int i = 0; i < args.length; i += 3) {
            System.out.println(run(args[i], Paths.get(args[i + 1]), Paths.get(args[i + 2])));
            System.out.flush();
        }
    }

    private static String run(String modelDir, Path inputPath, Path outputPath) {
        String prefix = "{\"runtime\": \"tensorflow-java\", \"tensorflow_version\": " + Npy.json(TensorFlow.version())
                + ", \"model\": " + Npy.json(modelDir);
        long started = System.nanoTime();
        try (SavedModelBundle bundle = SavedModelBundle.load(modelDir, TAG)) {
            double loadMs = (System.nanoTime() - started) / 1e6;
            SignatureDef signature = MetaGraphDef.parseFrom(bundle.metaGraphDef()).getSignatureDefOrThrow(SIGNATURE);
            TensorInfo input = signature.getInputsOrThrow(signature.getInputsMap().keySet().iterator().next());
            TensorInfo output = signature.getOutputsOrThrow(signature.getOutputsMap().keySet().iterator().next());
            Npy x = Npy.read(inputPath);
            long runStarted = System.nanoTime();
            try (Tensor<Float> tensor = Tensor.create(x.shape, FloatBuffer.wrap(x.data))) {
                List<Tensor<?>> fetched = bundle.session().runner()
                        .feed(Npy.opName(input.getName()), tensor)
                        .fetch(Npy.opName(output.getName()))
                        .run();
                try (Tensor<?> result = fetched.get(0)) {
                    double runMs = (System.nanoTime() - runStarted) / 1e6;
                    float[] values = new float[result.numElements()];
                    result.writeTo(FloatBuffer.wrap(values));
                    new Npy(result.shape(), values).write(outputPath);
                    return prefix + ", \"ok\": true, \"load_ms\": " + loadMs + ", \"run_ms\": " + runMs
                            + ", \"input\": " + Npy.json(input.getName()) + ", \"output\": " + Npy.json(output.getName())
                            + "}";
                }
            }
        } catch (Throwable error) {
            return prefix + ", \"ok\": false, \"error\": " + Npy.json(error.toString()) + "}";
        }
    }
}
