import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Float32 arrays in NumPy's .npy format (version 1.0, little-endian, C order): what the
 * consumer harness reads from Python and writes back for Python to compare.
 */
final class Npy {
    final long[] shape;
    final float[] data;

    Npy(long[] shape, float[] data) {
        this.shape = shape;
        this.data = data;
    }

    static Npy read(Path path) throws IOException {
        ByteBuffer bytes = ByteBuffer.wrap(Files.readAllBytes(path)).order(ByteOrder.LITTLE_ENDIAN);
        byte[] magic = new byte[6];
        bytes.get(magic);
        if (magic[0] != (byte) 0x93 || !new String(magic, 1, 5, StandardCharsets.US_ASCII).equals("NUMPY")) {
            throw new IOException(path + ": not a .npy file");
        }
        int major = bytes.get();
        bytes.get();
        int headerLength = major == 1 ? Short.toUnsignedInt(bytes.getShort()) : bytes.getInt();
        byte[] headerBytes = new byte[headerLength];
        bytes.get(headerBytes);
        String header = new String(headerBytes, StandardCharsets.US_ASCII);
        if (!header.contains("'descr': '<f4'") || header.contains("'fortran_order': True")) {
            throw new IOException(path + ": the harness reads little-endian float32 arrays in C order, got " + header);
        }
        Matcher match = Pattern.compile("'shape': \\(([^)]*)\\)").matcher(header);
        if (!match.find()) {
            throw new IOException(path + ": no shape in the header " + header);
        }
        List<Long> dims = new ArrayList<>();
        for (String part : match.group(1).split(",")) {
            if (!part.trim().isEmpty()) {
                dims.add(Long.parseLong(part.trim()));
            }
        }
        long[] shape = dims.stream().mapToLong(Long::longValue).toArray();
        float[] data = new float[(int) size(shape)];
        bytes.asFloatBuffer().get(data);
        return new Npy(shape, data);
    }

    void write(Path path) throws IOException {
        StringBuilder dims = new StringBuilder();
        for (long d : shape) {
            dims.append(d).append(", ");
        }
        String header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims.toString().trim() + "), }";
        int total = 10 + header.length() + 1;
        int padding = (64 - total % 64) % 64;
        header = header + " ".repeat(padding) + "\n";
        ByteBuffer out = ByteBuffer.allocate(10 + header.length() + 4 * data.length).order(ByteOrder.LITTLE_ENDIAN);
        out.put((byte) 0x93).put("NUMPY".getBytes(StandardCharsets.US_ASCII)).put((byte) 1).put((byte) 0);
        out.putShort((short) header.length()).put(header.getBytes(StandardCharsets.US_ASCII));
        out.asFloatBuffer().put(data);
        Path partial = path.resolveSibling(path.getFileName() + ".partial");
        Files.write(partial, out.array());
        Files.move(partial, path, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                   java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    }

    static long size(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    /** A string as a JSON string literal. */
    static String json(String text) {
        StringBuilder out = new StringBuilder("\"");
        for (char c : text.toCharArray()) {
            if (c == '"' || c == '\\') {
                out.append('\\').append(c);
            } else if (c < 0x20) {
                out.append(String.format("\\u%04x", (int) c));
            } else {
                out.append(c);
            }
        }
        return out.append('"').toString();
    }

    /** "name:0" -> "name": the plugins feed and fetch operations by name (CSBDeep's TensorFlowRunner.opName). */
    static String opName(String tensorName) {
        return tensorName.endsWith(":0") ? tensorName.substring(0, tensorName.length() - 2) : tensorName;
    }
}
