import Testing
import KilnText
