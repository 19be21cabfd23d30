import Testing
import KilnFormats
