"""The one door from mod_api into the legacy platform's data layer.

Only the data-layer names documented in the legacy NAMES.md are imported here (``database``, ``exceptions``
and the ``mod_*.models`` modules), so mod_api runs unchanged inside a real sample-platform checkout.
Nothing with import-time side effects (``run``, controllers, ``utility``) may ever be imported. Every models
module is imported, even those mod_api does not use directly, so that all relationship targets are mapped.
"""
from database import Base, DeclEnum, DeclEnumType, EnumSymbol
from exceptions import EnumParsingException
from mod_auth.models import Role, User
from mod_ci.models import GcpInstance, MaintenanceMode
from mod_customized.models import CustomizedTest, TestFork
from mod_home.models import CCExtractorVersion, GeneralData
from mod_regression.models import (
                                   Category,
                                   RegressionTest,
                                   RegressionTestOutput,
                                   RegressionTestOutputFiles,
                                   regressionTestLinkTable,
)
from mod_sample.models import Sample, Tag, sample_tag_association
from mod_test.models import Fork, Test, TestPlatform, TestProgress, TestResult, TestResultFile, TestStatus, TestType
from mod_upload.models import Upload

__all__ = [
    'Base', 'DeclEnum', 'DeclEnumType', 'EnumSymbol', 'EnumParsingException',
    'Role', 'User', 'GcpInstance', 'MaintenanceMode', 'CustomizedTest', 'TestFork', 'CCExtractorVersion', 'GeneralData',
    'Category', 'RegressionTest', 'RegressionTestOutput', 'RegressionTestOutputFiles', 'regressionTestLinkTable',
    'Sample', 'Tag', 'sample_tag_association',
    'Fork', 'Test', 'TestPlatform', 'TestProgress', 'TestResult', 'TestResultFile', 'TestStatus', 'TestType',
    'Upload',
]
