"""termmate's voice: Fish Speech TTS, sentence streaming, playback with barge-in, cloning.

Layer 2: imports ``config`` only. sounddevice (PortAudio) and soundfile are imported when
sound is first needed, so a machine without them still chats in text.
"""

from .errors import (
    MicrophoneUnavailable,
    TTSBadResponse,
    TTSError,
    TTSNotAllowed,
    TTSRejected,
    TTSUnavailable,
    VoiceError,
    VoiceExists,
    VoiceNotFound,
    VoiceOff,
    VoiceSampleError,
)
from .events import (
    SentenceSpeaking,
    SpeechEvent,
    SpeechFailed,
    SpeechFinished,
    SpeechResult,
    SpeechStarted,
    VoiceStatus,
)
from .fish_speech import FishSpeechClient, ReferenceAudio
from .microphone import record_voice_sample
from .offline import is_loopback_url
from .pcm import Clip, decode_audio, encode_wav
from .pipeline import SpokenReply
from .player import Player
from .sentences import SentenceSplitter, split_sentences
from .service import VoiceService
from .synthesis import SpeechSynthesizer
from .voice_sample import check_voice_name, check_voice_sample, read_voice_sample_file
from .voices import ClonedVoice, Voice, VoiceLibrary, VoiceListing

__all__ = [
    "Clip",
    "ClonedVoice",
    "FishSpeechClient",
    "MicrophoneUnavailable",
    "Player",
    "ReferenceAudio",
    "SentenceSpeaking",
    "SentenceSplitter",
    "SpeechEvent",
    "SpeechFailed",
    "SpeechFinished",
    "SpeechResult",
    "SpeechStarted",
    "SpeechSynthesizer",
    "SpokenReply",
    "TTSBadResponse",
    "TTSError",
    "TTSNotAllowed",
    "TTSRejected",
    "TTSUnavailable",
    "Voice",
    "VoiceError",
    "VoiceExists",
    "VoiceLibrary",
    "VoiceListing",
    "VoiceNotFound",
    "VoiceOff",
    "VoiceSampleError",
    "VoiceService",
    "VoiceStatus",
    "check_voice_name",
    "check_voice_sample",
    "decode_audio",
    "encode_wav",
    "is_loopback_url",
    "read_voice_sample_file",
    "record_voice_sample",
    "split_sentences",
]
