import Testing
import KilnImage
