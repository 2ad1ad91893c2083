import IMCDocuments
import Testing

struct FieldPathTests {
    @Test(arguments: ["Containers[1].Image", "Images[0]", "ImageCacheSize", "Containers[0].EnvironmentVars[3].Name", "A[1][2]"])
    func aPathReadsAndWritesAsTheAPINamesIt(text: String) {
        #expect(FieldPath(stringLiteral: text).description == text)
    }

    @Test func pathsAreBuiltFromTheirParts() {
        let path = FieldPath("Containers").index(1).key("Image")
        #expect(path == "Containers[1].Image")
        #expect(path.root == "Containers")
        #expect(FieldPath("Image").under(FieldPath("Containers").index(2)) == "Containers[2].Image")
        #expect(FieldPath([.index(0)]).root == nil)
    }
}
